//! Against Debian's docker-registry on 127.0.0.1: push, pull, auth, multi-arch, GC, skopeo
//! interop; and bad inputs from a fault-injecting registry.

mod common;

use berth_image::manifest::{Descriptor, Index, Platform};
use berth_image::mount::{mount_all, unmount_path};
use berth_image::pull::{pull, PullOptions};
use berth_image::push::{push, PushOptions};
use berth_image::registry::{Client, Credential, Credentials};
use berth_image::snapshot::Driver;
use berth_image::store::ImageStore;
use berth_image::{media, Digest, Error, Reference, RegistryConfig};
use common::registry::{Auth, Fault, FaultServer, Registry, PASS, REFRESH, USER};
use common::{busybox_layer, check_six, is_root, make_image, require, six_layers, L};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Unmounts and removes the view snapshot on drop.
struct Mounted(PathBuf, ImageStore, String);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_path(&self.0);
        let _ = self.1.snapshots().remove(&self.2);
    }
}

fn client(creds: Credentials) -> Client {
    Client::new(RegistryConfig::default(), creds).expect("client")
}

fn store(t: &tempfile::TempDir, name: &str) -> ImageStore {
    ImageStore::open(t.path().join(name), None).expect("store")
}

fn r(s: &str) -> Reference {
    Reference::parse(s).expect("reference")
}

/// The merged root of image `chain` in `store`: an overlay view mount, or the copy dir.
fn merged(store: &ImageStore, chain: &Digest, at: &Path) -> (PathBuf, Option<Mounted>) {
    let sn = store.snapshots();
    if sn.driver() == Driver::Copy {
        return (sn.committed_dir(&chain.to_string()).expect("dir"), None);
    }
    let key = format!("view-{}", at.display());
    let m = sn.view(&key, Some(&chain.to_string())).expect("view");
    std::fs::create_dir_all(at).expect("mkdir");
    mount_all(&m, at).expect("mount");
    (
        at.to_path_buf(),
        Some(Mounted(at.to_path_buf(), store.clone(), key)),
    )
}

fn busybox() -> Option<Vec<u8>> {
    let l = busybox_layer();
    if !require(
        l.is_some(),
        "/bin/busybox missing (apt install busybox-static)",
    ) {
        return None;
    }
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_six_layers_tags_gc() {
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let Some(layers) = six_layers() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    make_image(&src, "local/six:1", &layers, false, "amd64");
    make_image(&src, "local/six-docker:1", &layers, true, "amd64");
    let c = client(Credentials::none());
    let dest = r(&format!("{}/test/six:v1", reg.addr));
    let pushed = push(
        &src,
        &c,
        "local/six:1",
        &dest,
        &PushOptions {
            chunk_size: 64 << 10,
            ..Default::default()
        },
    )
    .await
    .expect("push (chunked)");
    let dest_d = r(&format!("{}/test/six-docker:v1", reg.addr));
    push(
        &src,
        &c,
        "local/six-docker:1",
        &dest_d,
        &PushOptions::default(),
    )
    .await
    .expect("push docker types");
    // Pushing again finds every blob present.
    push(
        &src,
        &c,
        "local/six:1",
        &dest.with_tag("v2").expect("tag"),
        &PushOptions::default(),
    )
    .await
    .expect("re-push");

    let repo = c.repository(&dest, false).await.expect("repo");
    let mut tags = repo.tags(1).await.expect("tags paginated by 1");
    tags.sort();
    assert_eq!(tags, vec!["v1", "v2"]);

    let dst = store(&t, "dst");
    let pulled = pull(&dst, &c, &dest, &PullOptions::default())
        .await
        .expect("pull");
    assert_eq!(pulled.manifest_digest, pushed);
    let chain = pulled.chain_id.clone().expect("chain");
    let (root, guard) = merged(&dst, &chain, &t.path().join("mnt1"));
    check_six(&root);
    drop(guard);
    let pd = pull(&dst, &c, &dest_d, &PullOptions::default())
        .await
        .expect("pull docker types");
    assert_eq!(pd.target.media_type, media::DOCKER_MANIFEST);
    assert_eq!(pd.chain_id, pulled.chain_id, "same layers, same chain");

    let info = dst.inspect(&dest.to_string()).expect("inspect");
    assert_eq!(info.repo_tags, vec![format!("{}/test/six:v1", reg.addr)]);
    assert_eq!(
        info.repo_digests,
        vec![format!("{}/test/six@{pushed}", reg.addr)]
    );
    let cc = info.config.config.clone().expect("container config");
    assert_eq!(cc.cmd, Some(vec!["/bin/sh".to_string()]));
    assert!(cc.healthcheck.is_some());
    assert!(info.size > 0);
    dst.tag(&dest.to_string(), "mine:latest").expect("tag");
    assert_eq!(dst.inspect("mine").expect("by short name").id, info.id);
    assert_eq!(dst.list().expect("list").len(), 2);

    // Delete by digest on the registry.
    repo.delete_manifest(&pd.manifest_digest).await.ok();
    let rd = c.repository(&dest_d, false).await.expect("repo");
    rd.delete_manifest(&pd.manifest_digest)
        .await
        .expect("delete");
    assert!(matches!(
        rd.get_manifest(&pd.manifest_digest.to_string()).await,
        Err(Error::NotFound { .. })
    ));

    // GC: blobs and snapshots shared by the two images stay until both are gone.
    let before = dst.content().list().expect("list").len();
    dst.delete(&dest_d.to_string())
        .expect("delete docker image");
    let after = dst.content().list().expect("list").len();
    assert_eq!(
        before - after,
        1,
        "its own manifest goes; the identical config and the layers are shared"
    );
    assert!(dst.snapshots().stat(&chain.to_string()).is_ok());
    dst.untag("mine").expect("untag");
    dst.delete(&dest.to_string()).expect("delete");
    assert!(
        dst.content().list().expect("list").is_empty(),
        "all blobs collected"
    );
    assert!(
        dst.snapshots().list().expect("list").is_empty(),
        "all snapshots collected"
    );
    assert!(dst.records().expect("records").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_and_concurrent_pulls() {
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    let Some(bb) = busybox() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    let amd = make_image(&src, "local/amd:1", &[L::gz(bb.clone())], false, "amd64");
    let arm_layer = common::Tar::new().file("arch", 0o644, b"arm64").finish();
    let arm = make_image(&src, "local/arm:1", &[L::gz(arm_layer)], false, "arm64");
    let c = client(Credentials::none());
    let base = format!("{}/multi/img", reg.addr);
    push(
        &src,
        &c,
        "local/amd:1",
        &r(&format!("{base}:amd")),
        &PushOptions::default(),
    )
    .await
    .expect("push amd");
    push(
        &src,
        &c,
        "local/arm:1",
        &r(&format!("{base}:arm")),
        &PushOptions::default(),
    )
    .await
    .expect("push arm");
    let with_platform = |d: &Descriptor, arch: &str| Descriptor {
        platform: Some(Platform::parse(&format!("linux/{arch}")).expect("p")),
        ..d.clone()
    };
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: vec![with_platform(&arm, "arm64"), with_platform(&amd, "amd64")],
        annotations: None,
    };
    let ib = serde_json::to_vec(&index).expect("index");
    let repo = c
        .repository(&r(&format!("{base}:multi")), true)
        .await
        .expect("repo");
    repo.put_manifest("multi", &ib, media::OCI_INDEX)
        .await
        .expect("put index");

    let dst = store(&t, "dst");
    let host = Platform::host();
    let want_amd = host.architecture == "amd64";
    let reference = r(&format!("{base}:multi"));
    // Two concurrent pulls of the same image into one store.
    let opts = PullOptions::default();
    let (a, b) = tokio::join!(
        pull(&dst, &c, &reference, &opts),
        pull(&dst, &c, &reference, &opts)
    );
    if want_amd {
        let (a, b) = (a.expect("pull a"), b.expect("pull b"));
        assert_eq!(a.manifest_digest, amd.digest);
        assert_eq!(a.chain_id, b.chain_id);
        assert_eq!(
            dst.snapshots().list().expect("list").len(),
            1,
            "one snapshot for both pulls"
        );
        assert!(common::tree_is_empty(&dst.content().root().join("ingest")));
    }
    let arm_pull = pull(
        &dst,
        &c,
        &reference,
        &PullOptions {
            platform: Some(Platform::parse("linux/arm64").expect("p")),
            ..Default::default()
        },
    )
    .await
    .expect("pull arm64");
    assert_eq!(arm_pull.manifest_digest, arm.digest);
    let err = pull(
        &dst,
        &c,
        &reference,
        &PullOptions {
            platform: Some(Platform::parse("linux/s390x").expect("p")),
            ..Default::default()
        },
    )
    .await
    .expect_err("no such platform");
    assert!(
        err.to_string().contains("linux/s390x") && err.to_string().contains("linux/arm64"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_docker_config() {
    let Some(reg) = Registry::start(Auth::Basic) else {
        return;
    };
    let Some(bb) = busybox() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    make_image(&src, "local/bb:1", &[L::gz(bb)], false, "amd64");
    let dest = r(&format!("{}/auth/bb:1", reg.addr));

    let err = push(
        &src,
        &client(Credentials::none()),
        "local/bb:1",
        &dest,
        &PushOptions::default(),
    )
    .await
    .expect_err("anonymous");
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("requires credentials"), "{err}");
    let bad = Credentials::none().with(
        &reg.addr,
        Credential::Basic {
            username: USER.into(),
            password: "wrong".into(),
        },
    );
    let err = push(
        &src,
        &client(bad),
        "local/bb:1",
        &dest,
        &PushOptions::default(),
    )
    .await
    .expect_err("bad password");
    assert!(matches!(err, Error::Auth { .. }), "{err}");

    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{USER}:{PASS}"),
    );
    let cfg = reg.docker_config(&format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        reg.addr
    ));
    let c = client(Credentials::from_config_file(cfg));
    push(&src, &c, "local/bb:1", &dest, &PushOptions::default())
        .await
        .expect("push with config.json auths");
    let dst = store(&t, "dst");
    pull(&dst, &c, &dest, &PullOptions::default())
        .await
        .expect("pull with Basic");
    assert!(dst.content().list().expect("blobs").len() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_anonymous_password_refresh_and_mount() {
    let Some(reg) = Registry::start(Auth::Token) else {
        return;
    };
    let Some(bb) = busybox() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    make_image(&src, "local/bb:1", &[L::gz(bb)], false, "amd64");
    let a = r(&format!("{}/team/a:1", reg.addr));
    let b = r(&format!("{}/team/b:1", reg.addr));

    // Anonymous tokens carry pull only: push is refused with a clear error.
    let err = push(
        &src,
        &client(Credentials::none()),
        "local/bb:1",
        &a,
        &PushOptions::default(),
    )
    .await
    .expect_err("anonymous push");
    assert!(
        matches!(
            err,
            Error::Auth { .. } | Error::Registry { status: 401, .. }
        ),
        "{err}"
    );
    let bad = Credentials::none().with(
        &reg.addr,
        Credential::Basic {
            username: USER.into(),
            password: "nope".into(),
        },
    );
    let err = push(
        &src,
        &client(bad),
        "local/bb:1",
        &a,
        &PushOptions::default(),
    )
    .await
    .expect_err("bad password");
    assert!(err.to_string().contains("credentials rejected"), "{err}");

    let pw = client(Credentials::none().with(
        &reg.addr,
        Credential::Basic {
            username: USER.into(),
            password: PASS.into(),
        },
    ));
    push(&src, &pw, "local/bb:1", &a, &PushOptions::default())
        .await
        .expect("push with password token");
    // Cross-repository mount: one token request carries both repositories' scopes.
    let refresh =
        client(Credentials::none().with(&reg.addr, Credential::IdentityToken(REFRESH.into())));
    push(
        &src,
        &refresh,
        "local/bb:1",
        &b,
        &PushOptions {
            mount_from: Some("team/a".into()),
            ..Default::default()
        },
    )
    .await
    .expect("push with refresh token + mount");
    let token = reg.token.as_ref().expect("token server");
    let reqs = token.requests.lock().expect("lock").clone();
    assert!(
        reqs.iter().any(|(m, _)| m == "POST"),
        "refresh token used the OAuth2 POST: {reqs:?}"
    );
    assert!(
        reqs.iter().any(
            |(_, s)| s.contains(&"repository:team/b:pull,push".to_string())
                && s.contains(&"repository:team/a:pull".to_string())
        ),
        "several scopes in one request: {reqs:?}"
    );
    let bad_refresh =
        client(Credentials::none().with(&reg.addr, Credential::IdentityToken("expired".into())));
    assert!(
        pull(&store(&t, "x"), &bad_refresh, &a, &PullOptions::default())
            .await
            .is_err()
    );

    let dst = store(&t, "dst");
    pull(
        &dst,
        &client(Credentials::none()),
        &b,
        &PullOptions::default(),
    )
    .await
    .expect("anonymous bearer pull");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_interop_both_ways() {
    let Some(reg) = Registry::start(Auth::None) else {
        return;
    };
    if !require(
        Path::new("/usr/bin/skopeo").exists(),
        "skopeo is not installed (apt install skopeo)",
    ) {
        return;
    }
    let Some(layers) = six_layers() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    make_image(&src, "local/six:1", &layers, false, "amd64");
    let layout = t.path().join("layout");
    berth_image::archive::export_oci_dir(&src, &["local/six:1"], &layout).expect("export");
    let skopeo = |args: &[&str]| {
        let out = Command::new("skopeo")
            .args(args)
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // skopeo pushes (from Berth's OCI layout export), Berth pulls.
    let by_skopeo = format!("{}/interop/skopeo:1", reg.addr);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{by_skopeo}"),
    ]);
    let dst = store(&t, "dst");
    let c = client(Credentials::none());
    let pulled = pull(&dst, &c, &r(&by_skopeo), &PullOptions::default())
        .await
        .expect("pull skopeo's push");
    let (root, guard) = merged(
        &dst,
        &pulled.chain_id.clone().expect("chain"),
        &t.path().join("mnt"),
    );
    check_six(&root);
    drop(guard);
    // Berth pushes, skopeo reads it back with equal digests.
    let by_berth = format!("{}/interop/berth:1", reg.addr);
    let pushed = push(&dst, &c, &by_skopeo, &r(&by_berth), &PushOptions::default())
        .await
        .expect("push");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{by_berth}"),
    ]);
    assert_eq!(Digest::sha256_of(&raw), pushed);
    let back = t.path().join("back");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{by_berth}"),
        &format!("oci:{}:1", back.display()),
    ]);
    let idx: Index =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).expect("index"))
            .expect("parse");
    assert_eq!(idx.manifests[0].digest, pushed);
}

fn fault_layer() -> Vec<u8> {
    let data: Vec<u8> = (0..400_000u32)
        .flat_map(|i| (i.wrapping_mul(2_654_435_761)).to_le_bytes())
        .collect();
    common::gzip(&common::Tar::new().file("big", 0o644, &data).finish())
}

async fn fault_pull(
    fault: Fault,
) -> (
    FaultServer,
    tempfile::TempDir,
    ImageStore,
    berth_image::Result<berth_image::pull::Pulled>,
) {
    let server = FaultServer::start(fault_layer(), fault);
    let t = tempfile::tempdir().expect("tempdir");
    let s = store(&t, "s");
    let res = pull(
        &s,
        &client(Credentials::none()),
        &r(&format!("{}/x/img:t", server.addr)),
        &PullOptions::default(),
    )
    .await;
    (server, t, s, res)
}

fn nothing_committed(s: &ImageStore) {
    assert!(
        s.records().expect("records").is_empty(),
        "no image recorded"
    );
    assert!(
        s.snapshots().list().expect("snapshots").is_empty(),
        "no snapshot left"
    );
    let snaps = s.root().join("snapshots/snapshots");
    assert!(common::tree_is_empty(&snaps), "no snapshot directory left");
    let blobs: Vec<_> = s
        .content()
        .list()
        .expect("blobs")
        .into_iter()
        .filter(|(_, n)| *n > 10_000)
        .collect();
    assert!(blobs.is_empty(), "no layer blob committed: {blobs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_digest_commits_nothing() {
    let (_srv, _t, s, res) = fault_pull(Fault::CorruptLayer).await;
    let err = res.expect_err("corrupt layer");
    assert!(
        matches!(
            err,
            Error::Verification { .. } | Error::UnsafeEntry { .. } | Error::Io { .. }
        ),
        "{err}"
    );
    nothing_committed(&s);
    assert!(
        common::tree_is_empty(&s.content().root().join("ingest")),
        "bad ingest discarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes_with_range() {
    let (srv, _t, s, res) = fault_pull(Fault::DropLayer(2)).await;
    let pulled = res.expect("resumed pull");
    let ranges = srv.layer_requests.lock().expect("lock").clone();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=")),
        "{ranges:?}"
    );
    assert!(pulled.chain_id.is_some());
    drop(srv);
    // Always dropping: a clear error after the retries, nothing committed.
    let (_srv, _t, s2, res) = fault_pull(Fault::DropLayer(100)).await;
    let err = res.expect_err("gives up");
    assert!(err.to_string().contains("retries"), "{err}");
    nothing_committed(&s2);
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_type_huge_manifest_and_schema1_are_clear_errors() {
    let (_s1, _t1, s, res) = fault_pull(Fault::UnknownLayerType).await;
    let err = res.expect_err("unknown type");
    assert!(
        err.to_string().contains("application/x-berth-unknown"),
        "{err}"
    );
    nothing_committed(&s);
    let (_s2, _t2, s, res) = fault_pull(Fault::HugeManifest).await;
    let err = res.expect_err("huge");
    assert!(err.to_string().contains("limit"), "{err}");
    nothing_committed(&s);
    let (_s3, _t3, s, res) = fault_pull(Fault::Schema1).await;
    let err = res.expect_err("schema1");
    assert!(
        err.to_string().contains("schema 1 is not supported"),
        "{err}"
    );
    nothing_committed(&s);
}

#[test]
fn runs_as_root_or_says_why() {
    // Overlay checks in these tests need root; without it they use the copy driver.
    if !is_root() {
        eprintln!("note: not root, registry tests use the copy snapshotter");
    }
}
