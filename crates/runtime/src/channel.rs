//! The typed channel between the runtime process and the container's init (or exec'd) child:
//! a SOCK_SEQPACKET socketpair carrying one JSON message per datagram, optionally with one fd
//! (the pty master) attached as SCM_RIGHTS.

use serde::{Deserialize, Serialize};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// Messages between the runtime (parent) and the child it cloned.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Msg {
    /// parent -> child: ids mapped, cgroups joined; go on.
    Continue,
    /// child -> parent: mounts are done, rootfs not yet pivoted: run prestart/createRuntime hooks.
    MountsReady,
    /// parent -> child: the runtime hooks ran.
    HooksDone,
    /// child -> parent: the container is created and waits for start.
    Ready,
    /// child -> parent: setup failed; the text is the one-line reason.
    Error(String),
    /// child -> parent: the pty master is attached to this message.
    ConsoleMaster,
}

/// One end of the channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end).
pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub(crate) fn send(&self, msg: &Msg) -> io::Result<()> {
        self.send_with_fd(msg, None)
    }

    pub(crate) fn send_with_fd(&self, msg: &Msg, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let data = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        let fds;
        if let Some(fd) = fd {
            fds = [fd];
            anc.push(SendAncillaryMessage::ScmRights(&fds));
        }
        sendmsg(
            &self.fd,
            &[IoSlice::new(&data)],
            &mut anc,
            SendFlags::NOSIGNAL,
        )?;
        Ok(())
    }

    /// Receives one message; `None` when the other end closed (the child died or exec'd).
    pub(crate) fn recv(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = [0u8; 8192];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let n = loop {
            match recvmsg(
                &self.fd,
                &mut [IoSliceMut::new(&mut buf)],
                &mut anc,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(r) => break r.bytes,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let mut passed = None;
        for m in anc.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                for fd in fds {
                    passed.get_or_insert(fd);
                }
            }
        }
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n]).map_err(io::Error::other)?;
        Ok(Some((msg, passed)))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends `fd` to a unix socket at `path` (runc's --console-socket protocol: the message body is
/// the terminal's name, the fd rides as SCM_RIGHTS).
pub(crate) fn send_fd_to_socket(
    sock: BorrowedFd<'_>,
    name: &str,
    fd: BorrowedFd<'_>,
) -> io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        sock,
        &[IoSlice::new(name.as_bytes())],
        &mut anc,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross_the_pair() {
        let (a, b) = pair().expect("socketpair");
        a.send(&Msg::Error("boom".into())).expect("send");
        let (m, fd) = b.recv().expect("recv").expect("message");
        assert_eq!(m, Msg::Error("boom".into()));
        assert!(fd.is_none());
        let f = std::fs::File::open("/dev/null").expect("open");
        b.send_with_fd(&Msg::ConsoleMaster, Some(f.as_fd()))
            .expect("send fd");
        let (m, fd) = a.recv().expect("recv").expect("message");
        assert_eq!(m, Msg::ConsoleMaster);
        assert!(fd.is_some());
        drop(b);
        assert!(a.recv().expect("eof").is_none());
    }
}
