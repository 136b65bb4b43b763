//! `bpf(2)` for the cgroup v2 device controller: load a `BPF_PROG_TYPE_CGROUP_DEVICE` program,
//! attach it to / detach it from a cgroup directory, and list what is attached.
//!
//! Written by hand because only five commands are needed and the attribute layouts are stable
//! kernel ABI (`include/uapi/linux/bpf.h`); a libbpf binding would pull in a C library for that.
//! Every attribute struct below is `repr(C)` with explicit padding fields so that no byte the
//! kernel reads is uninitialised (the kernel rejects non-zero bytes past what it knows).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
pub const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: several programs may be attached; all of them must allow an access.
pub const F_ALLOW_MULTI: u32 = 1 << 1;

/// Access bits in `bpf_cgroup_dev_ctx.access_type >> 16`.
pub const DEVCG_ACC_MKNOD: i32 = 1;
/// Read access.
pub const DEVCG_ACC_READ: i32 = 2;
/// Write access.
pub const DEVCG_ACC_WRITE: i32 = 4;
/// Device type in `bpf_cgroup_dev_ctx.access_type & 0xffff`: block.
pub const DEVCG_DEV_BLOCK: i32 = 1;
/// Character device.
pub const DEVCG_DEV_CHAR: i32 = 2;

const CMD_PROG_LOAD: libc::c_int = 5;
const CMD_PROG_ATTACH: libc::c_int = 8;
const CMD_PROG_DETACH: libc::c_int = 9;
const CMD_PROG_GET_FD_BY_ID: libc::c_int = 13;
const CMD_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const CMD_PROG_QUERY: libc::c_int = 16;

/// One eBPF instruction (`struct bpf_insn`). `regs` holds dst in the low nibble, src in the high.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg | src_reg << 4`.
    pub regs: u8,
    /// Signed jump offset (in instructions, from the next one) or memory offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its parts.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (dst & 0x0f) | ((src & 0x0f) << 4),
            off,
            imm,
        }
    }
}

/// A failed `BPF_PROG_LOAD`, with the verifier's log when the kernel produced one.
#[derive(Debug)]
pub struct ProgLoadError {
    /// The errno.
    pub error: io::Error,
    /// Verifier log (empty if none).
    pub log: String,
}

impl std::fmt::Display for ProgLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.log.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}; verifier log:\n{}", self.error, self.log.trim_end())
        }
    }
}

impl std::error::Error for ProgLoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading part of `struct bpf_prog_info` (the kernel fills at most `info_len` bytes).
#[repr(C)]
#[derive(Default)]
struct RawProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// Kernel-wide program id.
    pub id: u32,
    /// The name given at load time (at most 15 bytes).
    pub name: String,
}

/// Issues `bpf(cmd, attr, size_of::<T>())`. `T` must be one of the attribute structs above.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed, fully initialised repr(C) struct of the
    // size we pass; every pointer stored in it (set by the callers below) refers to a buffer
    // that outlives this call and has the length the kernel is told.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned_fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us (bpf returns a new fd on success
    // for PROG_LOAD and PROG_GET_FD_BY_ID); nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

/// Loads a program. `name` is truncated to 15 bytes. On failure the load is retried once with
/// the verifier log enabled so the error says why (the fast path pays for no log buffer).
pub fn prog_load(
    prog_type: u32,
    insns: &[Insn],
    license: &CStr,
    name: &str,
) -> Result<OwnedFd, ProgLoadError> {
    let mut prog_name = [0u8; 16];
    for (dst, src) in prog_name.iter_mut().zip(name.bytes().take(15)) {
        *dst = src;
    }
    let make = |log: &mut [u8]| ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name,
        ..Default::default()
    };
    let mut attr = make(&mut []);
    match bpf(CMD_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(error) => {
            let mut log = vec![0u8; 256 * 1024];
            let mut attr = make(&mut log);
            match bpf(CMD_PROG_LOAD, &mut attr) {
                // Loaded the second time (a transient failure); keep it.
                Ok(fd) => Ok(owned_fd(fd)),
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    Err(ProgLoadError {
                        error,
                        log: String::from_utf8_lossy(&log[..end]).into_owned(),
                    })
                }
            }
        }
    }
}

/// `BPF_PROG_ATTACH`: attaches `prog` to the cgroup directory `target`.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    bpf(CMD_PROG_ATTACH, &mut attr).map(drop)
}

/// `BPF_PROG_DETACH`: detaches the program `prog` from the cgroup directory `target`.
pub fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf(CMD_PROG_DETACH, &mut attr).map(drop)
}

/// `BPF_PROG_QUERY`: ids of the programs attached directly to `target` for `attach_type`.
pub fn prog_query(target: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 16];
    loop {
        let mut attr = QueryAttr {
            target_fd: target.as_raw_fd() as u32,
            attach_type,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(CMD_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // The buffer was too small; the kernel reported how many there are.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSPC) && attr.prog_cnt as usize > ids.len() =>
            {
                ids = vec![0u32; attr.prog_cnt as usize];
            }
            Err(e) => return Err(e),
        }
    }
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(CMD_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut info = RawProgInfo::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<RawProgInfo>() as u32,
        info: &mut info as *mut RawProgInfo as u64,
    };
    bpf(CMD_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = info.name.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(ProgInfo {
        prog_type: info.prog_type,
        id: info.id,
        name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 24);
        assert_eq!(std::mem::size_of::<QueryAttr>(), 32);
        assert_eq!(std::mem::size_of::<RawProgInfo>(), 80);
        let i = Insn::new(0x61, 2, 1, 0, 0);
        assert_eq!(i.regs, 0x12);
    }
}
