//! Applying layers to the snapshotter: chain IDs, unpack into an active snapshot, diffID check,
//! commit; nothing committed and the active snapshot removed when anything fails.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::unique_suffix;
use crate::snapshot::{Driver, Snapshotter};
use crate::unpack::{unpack, Compression, UnpackOptions};
use std::io::Read;

/// Chain IDs of a stack of diffIDs (OCI image spec: `ChainID(L0) = DiffID(L0)`,
/// `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A layer unpacked into an active snapshot but not committed yet.
#[derive(Debug)]
pub struct Prepared {
    pub key: String,
    pub diff_id: Digest,
}

/// Unpacks a layer into a new active snapshot. For the overlay driver `parent` is ignored (the
/// snapshot is attached at [`commit_layer`]); the copy driver needs the committed parent.
/// `expected_diff_id` (from the image config) is checked; on any error the snapshot is removed.
pub fn unpack_layer(
    sn: &Snapshotter,
    parent: Option<&str>,
    reader: impl Read + Send,
    compression: Compression,
    expected_diff_id: Option<&Digest>,
    layer_name: &str,
) -> Result<Prepared> {
    let key = format!("extract-{}", unique_suffix());
    let parent = if sn.driver() == Driver::Overlay {
        None
    } else {
        parent
    };
    sn.prepare(&key, parent)?;
    let result = (|| {
        let dir = sn.active_dir(&key)?;
        let mut opts = UnpackOptions::new(layer_name);
        opts.whiteouts = sn.whiteout_mode();
        let got = unpack(reader, compression, &dir, &opts)?;
        if let Some(want) = expected_diff_id {
            if &got.diff_id != want {
                return Err(Error::Verification {
                    digest: layer_name.to_string(),
                    reason: format!(
                        "uncompressed layer hashes to {}, the config says diffID {want}",
                        got.diff_id
                    ),
                });
            }
        }
        Ok(got.diff_id)
    })();
    match result {
        Ok(diff_id) => Ok(Prepared { key, diff_id }),
        Err(e) => {
            let _ = sn.remove(&key);
            Err(e)
        }
    }
}

/// Commits a prepared layer as `chain_id` on `parent`; when another pull committed the same
/// chain ID first, drops ours.
pub fn commit_layer(
    sn: &Snapshotter,
    prepared: Prepared,
    chain_id: &Digest,
    parent: Option<&str>,
) -> Result<()> {
    let name = chain_id.to_string();
    let result = if sn.driver() == Driver::Overlay {
        sn.commit_onto(&name, &prepared.key, parent)
    } else {
        sn.commit(&name, &prepared.key)
    };
    match result {
        Ok(()) => Ok(()),
        Err(Error::AlreadyExists { .. }) => sn.remove(&prepared.key),
        Err(e) => {
            let _ = sn.remove(&prepared.key);
            Err(e)
        }
    }
}

/// Unpacks and commits one layer on top of `parent` unless `chain_id` already exists.
pub fn apply_layer(
    sn: &Snapshotter,
    parent: Option<&Digest>,
    chain_id: &Digest,
    reader: impl Read + Send,
    compression: Compression,
    expected_diff_id: Option<&Digest>,
) -> Result<()> {
    if sn.stat(&chain_id.to_string()).is_ok() {
        return Ok(());
    }
    let parent_key = parent.map(Digest::to_string);
    let prepared = unpack_layer(
        sn,
        parent_key.as_deref(),
        reader,
        compression,
        expected_diff_id,
        &chain_id.to_string(),
    )?;
    commit_layer(sn, prepared, chain_id, parent_key.as_deref())
}
