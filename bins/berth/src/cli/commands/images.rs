//! `images` / `image ls` and the pull that `run`, `create` and `pull` share.

use super::super::client::{query, JsonStream};
use super::super::format::{ago, created_at, header, human_size_prec, row, short_id, Formatter};
use super::super::{config, progress, Ctx};
use super::ps::filters_json;
use anyhow::Result;
use hyper::Method;
use serde_json::{json, Value};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// `pull`: progress as docker shows it, then the fully qualified reference.
pub async fn pull(ctx: &Ctx, a: PullArgs) -> Result<()> {
    let image = if a.all_tags {
        split_reference(&a.name).0
    } else {
        a.name.clone()
    };
    let tagged = image.contains('@') || image.rsplit('/').next().unwrap_or("").contains(':');
    if !a.all_tags && !tagged && !a.quiet {
        println!("Using default tag: latest");
    }
    pull_with(
        ctx,
        image.clone(),
        a.platform.clone(),
        a.quiet,
        false,
        a.all_tags,
    )
    .await?;
    if a.all_tags {
        println!(
            "{}",
            qualified(&image)
                .rsplit_once(':')
                .map(|(n, _)| n.to_string())
                .unwrap_or_default()
        );
    } else {
        println!("{}", qualified(&image));
    }
    Ok(())
}

fn image_header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        f => header(f),
    }
}

/// (repository, tag) of a `name[:tag]` or `name@digest` reference.
pub fn split_reference(r: &str) -> (String, String) {
    if let Some((name, digest)) = r.split_once('@') {
        return (name.to_string(), digest.to_string());
    }
    let last_slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[last_slash..].rfind(':') {
        Some(i) => (
            r[..last_slash + i].to_string(),
            r[last_slash + i + 1..].to_string(),
        ),
        None => (r.to_string(), "latest".to_string()),
    }
}

/// docker's fully qualified form: `busybox` -> `docker.io/library/busybox:latest`.
pub fn qualified(r: &str) -> String {
    let (name, tag) = split_reference(r);
    let sep = if tag.starts_with("sha256:") { "@" } else { ":" };
    let first = name.split('/').next().unwrap_or("");
    let name = if name.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{name}{sep}{tag}")
}

/// Pulls `image` showing docker's progress (on stderr when `to_stderr`, as `run` does).
pub async fn pull_image(
    ctx: &Ctx,
    image: String,
    platform: Option<String>,
    quiet: bool,
    to_stderr: bool,
) -> Result<()> {
    pull_with(ctx, image, platform, quiet, to_stderr, false).await
}

async fn pull_with(
    ctx: &Ctx,
    image: String,
    platform: Option<String>,
    quiet: bool,
    to_stderr: bool,
    all_tags: bool,
) -> Result<()> {
    let (name, tag) = split_reference(&image);
    let mut q = vec![("fromImage", name)];
    if image.contains('@') || all_tags {
        q[0].1 = image.clone();
    } else {
        q.push(("tag", tag));
    }
    if let Some(p) = platform {
        q.push(("platform", p));
    }
    let auth = config::registry_auth_header(&ctx.config_dir, &image);
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            super::super::client::empty(),
            &[("x-registry-auth", auth)],
        )
        .await?;
    let mut s = JsonStream::new(resp);
    if to_stderr {
        let tty = std::io::stderr().is_terminal();
        progress::display(&mut s, &mut std::io::stderr(), tty, quiet).await?;
    } else {
        let tty = std::io::stdout().is_terminal();
        progress::display(&mut s, &mut std::io::stdout(), tty, quiet).await?;
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, a: ImagesArgs) -> Result<()> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut q = Vec::new();
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    let list = ctx
        .client
        .get_json(&format!("/images/json{}", query(&q)))
        .await?;
    let trunc = !a.no_trunc;
    let user = config::chosen_format(
        &ctx.config_dir,
        "imagesFormat",
        a.quiet,
        a.format.as_deref(),
    );
    // docker shows digests when asked or when the template uses them.
    let need_digest = a.digests || user.as_deref().is_some_and(|f| f.contains("{{.Digest}}"));
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        let full_id = img["Id"].as_str().unwrap_or("");
        let id = if trunc {
            short_id(full_id)
        } else {
            full_id.to_string()
        };
        let created = img["Created"].as_i64().unwrap_or(0);
        let size = img["Size"].as_f64().unwrap_or(0.0);
        for (repo, tag, digest) in image_rows(img, need_digest, a.digests) {
            rows.push(row(vec![
                ("Containers", json!(count(&img["Containers"]))),
                ("CreatedAt", json!(created_at(created))),
                ("CreatedSince", json!(ago(created))),
                ("Digest", json!(digest)),
                ("ID", json!(id)),
                ("Repository", json!(repo)),
                ("SharedSize", json!(size_or_na(&img["SharedSize"]))),
                ("Size", json!(human_size_prec(size, 3))),
                ("Tag", json!(tag)),
                ("UniqueSize", json!("N/A")),
                ("VirtualSize", json!(super::super::format::human_size(size))),
            ]));
        }
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let f = Formatter::new(user.as_deref(), default, image_header)?;
    print!("{}", f.render(&rows)?);
    Ok(())
}

/// The (repository, tag, digest) rows of one image, as docker CLI 28 makes them
/// (cli/command/formatter/image.go): an image without names is one `<none> <none>` row;
/// otherwise one row per tag, grouped by repository, each repeated per digest of that
/// repository when digests are shown; then one row per repository that has digests but no
/// tag. docker groups repositories in a Go map, so its order of repositories varies from one
/// run to the next (a rotation of the daemon's order); Berth keeps the order in which the
/// daemon names them, and within a repository the daemon's tag order, as docker does.
fn image_rows(img: &Value, need_digest: bool, show_digests: bool) -> Vec<(String, String, String)> {
    let strings = |key: &str| -> Vec<String> {
        img[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let (tags, digests) = (strings("RepoTags"), strings("RepoDigests"));
    let dangling = (tags.is_empty() && digests.is_empty())
        || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"]);
    if dangling {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for t in &tags {
        let Some((repo, tag)) = tagged(t) else {
            continue;
        };
        match repo_tags.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, v)) => v.push(tag),
            None => repo_tags.push((repo, vec![tag])),
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for d in &digests {
        let Some((repo, digest)) = d
            .split_once('@')
            .filter(|(r, d)| !r.is_empty() && !r.contains('<') && d.contains(':'))
        else {
            continue;
        };
        let repo = familiar(repo);
        match repo_digests.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, v)) => v.push(digest.to_string()),
            None => repo_digests.push((repo, vec![digest.to_string()])),
        }
    }
    let mut out = Vec::new();
    for (repo, tags) in repo_tags {
        let pos = repo_digests.iter().position(|(r, _)| *r == repo);
        let digests = pos.map(|i| repo_digests.remove(i).1).unwrap_or_default();
        for tag in tags {
            if !need_digest || digests.is_empty() {
                out.push((repo.clone(), tag, "<none>".into()));
                continue;
            }
            for d in &digests {
                out.push((repo.clone(), tag.clone(), d.clone()));
            }
        }
    }
    for (repo, digests) in repo_digests {
        if show_digests {
            for d in digests {
                out.push((repo.clone(), "<none>".into(), d));
            }
        } else {
            out.push((repo, "<none>".into(), String::new()));
        }
    }
    out
}

/// `(familiar repository, tag)` of a `name:tag` reference; None for anything else
/// (`<none>:<none>`, a digest reference).
fn tagged(r: &str) -> Option<(String, String)> {
    if r.contains('@') || r.contains('<') {
        return None;
    }
    let last_slash = r.rfind('/').map_or(0, |i| i + 1);
    let colon = r[last_slash..].rfind(':')? + last_slash;
    let (repo, tag) = (&r[..colon], &r[colon + 1..]);
    (!repo.is_empty() && !tag.is_empty()).then(|| (familiar(repo), tag.to_string()))
}

/// docker's familiar form of a repository: `docker.io/library/busybox` -> `busybox`.
fn familiar(repo: &str) -> String {
    let r = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    match r.strip_prefix("library/") {
        Some(name) if !name.contains('/') => name.to_string(),
        _ => r.to_string(),
    }
}

fn count(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".into(),
    }
}

fn size_or_na(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n >= 0.0 => human_size_prec(n, 3),
        _ => "N/A".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_and_qualify() {
        assert_eq!(
            split_reference("127.0.0.1:5000/a/b"),
            ("127.0.0.1:5000/a/b".into(), "latest".into())
        );
        assert_eq!(split_reference("a:1"), ("a".into(), "1".into()));
        assert_eq!(qualified("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(qualified("127.0.0.1:5000/x:2"), "127.0.0.1:5000/x:2");
        assert_eq!(qualified("me/x"), "docker.io/me/x:latest");
    }

    fn rows(tags: &[&str], digests: &[&str], need: bool, show: bool) -> Vec<String> {
        let img = json!({"RepoTags": tags, "RepoDigests": digests});
        image_rows(&img, need, show)
            .into_iter()
            .map(|(r, t, d)| format!("{r} {t} {d}"))
            .collect()
    }

    #[test]
    fn rows_group_by_repository_in_the_daemons_order() {
        // The daemon's order, not the sorted one: cli-test/box before busybox, tag 10 before 2,
        // and x:2 joins x:1 ahead of y.
        assert_eq!(
            rows(
                &["cli-test/box:1", "busybox:latest", "x:10", "y:1", "x:2"],
                &[],
                false,
                false
            ),
            [
                "cli-test/box 1 <none>",
                "busybox latest <none>",
                "x 10 <none>",
                "x 2 <none>",
                "y 1 <none>"
            ]
        );
        assert_eq!(
            rows(
                &["docker.io/library/busybox:latest", "127.0.0.1:5000/a/b:1"],
                &[],
                false,
                false
            ),
            ["busybox latest <none>", "127.0.0.1:5000/a/b 1 <none>"]
        );
    }

    #[test]
    fn rows_with_digests_as_docker() {
        let d = "sha256:0123";
        let tags = ["a:1", "a:2"];
        let digests = ["a@sha256:0123", "r/only@sha256:0123"];
        assert_eq!(
            rows(&tags, &digests, false, false),
            ["a 1 <none>", "a 2 <none>", "r/only <none> "]
        );
        assert_eq!(
            rows(&tags, &digests, true, true),
            [
                format!("a 1 {d}"),
                format!("a 2 {d}"),
                format!("r/only <none> {d}")
            ]
        );
        assert_eq!(rows(&[], &[], false, false), ["<none> <none> <none>"]);
        assert_eq!(
            rows(&["<none>:<none>"], &["<none>@<none>"], true, true),
            ["<none> <none> <none>"]
        );
        assert_eq!(rows(&[], &["a@sha256:0123"], false, false), ["a <none> "]);
    }
}
