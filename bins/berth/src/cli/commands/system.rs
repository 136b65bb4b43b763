//! `version`, `info` (and `system info`): the daemon's /version and /info in docker's layout,
//! or through `--format`.

use super::super::format::{bytes_size, go_print, Template};
use super::super::Ctx;
use anyhow::Result;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// `--format` over `data`: "json" is the whole value on one line.
fn print_format(fmt: &str, data: &Value) -> Result<()> {
    if fmt == "json" {
        println!("{data}");
    } else {
        println!("{}", Template::parse(fmt)?.render(data)?);
    }
    Ok(())
}

pub async fn version(ctx: &mut Ctx, a: VersionArgs) -> Result<()> {
    let negotiated = ctx.client.negotiate().await;
    let api = ctx.client.api_version().to_string();
    let client = json!({
        "Platform": {"Name": "Berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "DefaultAPIVersion": super::super::client::MAX_API_VERSION,
        "Os": "linux",
        "Arch": arch(),
        "Context": "default",
    });
    // Without a server answer the client's part is still printed, then the error.
    let (server, negotiated) = match negotiated {
        Ok(()) => match ctx.client.get_json("/version").await {
            Ok(v) => (Some(v), Ok(())),
            Err(e) => (None, Err(e)),
        },
        Err(e) => (None, Err(e)),
    };
    if let Some(f) = &a.format {
        print_format(f, &json!({"Client": client, "Server": server}))?;
        return negotiated;
    }
    let downgraded = if api != super::super::client::MAX_API_VERSION {
        format!(
            " (downgraded from {})",
            super::super::client::MAX_API_VERSION
        )
    } else {
        String::new()
    };
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {api}{downgraded}");
    println!(" OS/Arch:           linux/{}", arch());
    println!(" Context:           default");
    let Some(s) = server else {
        return negotiated;
    };
    let s_str = |v: &Value, k: &str| v.get(k).map(go_print).unwrap_or_default();
    println!();
    println!(
        "Server:{}",
        s["Platform"]["Name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(|n| format!(" {n}"))
            .unwrap_or_default()
    );
    let components: Vec<Value> = s["Components"].as_array().cloned().unwrap_or_default();
    let engine = components.iter().find(|c| c["Name"] == "Engine");
    println!(" Engine:");
    println!("  Version:          {}", s_str(&s, "Version"));
    println!(
        "  API version:      {} (minimum version {})",
        s_str(&s, "ApiVersion"),
        s_str(&s, "MinAPIVersion")
    );
    if let Some(g) = s["GoVersion"].as_str().filter(|g| !g.is_empty()) {
        println!("  Go version:       {g}");
    }
    println!("  Git commit:       {}", s_str(&s, "GitCommit"));
    println!("  Built:            {}", s_str(&s, "BuildTime"));
    println!(
        "  OS/Arch:          {}/{}",
        s_str(&s, "Os"),
        s_str(&s, "Arch")
    );
    println!(
        "  Experimental:     {}",
        s["Experimental"].as_bool().unwrap_or(false)
    );
    let _ = engine;
    for c in components.iter().filter(|c| c["Name"] != "Engine") {
        println!(" {}:", c["Name"].as_str().unwrap_or(""));
        println!("  Version:          {}", s_str(c, "Version"));
        if let Some(d) = c["Details"].as_object() {
            let mut keys: Vec<&String> = d.keys().collect();
            keys.sort();
            for k in keys {
                println!("  {:<18}{}", format!("{k}:"), go_print(&d[k]));
            }
        }
    }
    Ok(())
}

pub async fn info(ctx: &Ctx, a: InfoArgs) -> Result<()> {
    let i = ctx.client.get_json("/info").await?;
    if let Some(f) = &a.format {
        return print_format(f, &i);
    }
    let g = |k: &str| i.get(k).map(go_print).unwrap_or_default();
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: false");
    println!();
    println!("Server:");
    println!(" Containers: {}", g("Containers"));
    println!("  Running: {}", g("ContainersRunning"));
    println!("  Paused: {}", g("ContainersPaused"));
    println!("  Stopped: {}", g("ContainersStopped"));
    println!(" Images: {}", g("Images"));
    println!(" Server Version: {}", g("ServerVersion"));
    println!(" Storage Driver: {}", g("Driver"));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
            println!("  {}: {}", go_print(k), go_print(v));
        }
    }
    println!(" Logging Driver: {}", g("LoggingDriver"));
    println!(" Cgroup Driver: {}", g("CgroupDriver"));
    println!(" Cgroup Version: {}", g("CgroupVersion"));
    println!(" Plugins:");
    for kind in ["Volume", "Network", "Log"] {
        let names: Vec<String> = i["Plugins"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .map(go_print)
            .collect();
        println!("  {kind}: {}", names.join(" "));
    }
    let mut runtimes: Vec<String> = i["Runtimes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    println!(" Runtimes: {}", runtimes.join(" "));
    println!(" Default Runtime: {}", g("DefaultRuntime"));
    if let Some(s) = i["SecurityOptions"].as_array() {
        println!(" Security Options:");
        for o in s.iter().filter_map(Value::as_str) {
            for part in o.split(',') {
                if let Some(n) = part.strip_prefix("name=") {
                    println!("  {n}");
                } else {
                    println!("   {}", part.replace('=', ": "));
                }
            }
        }
    }
    println!(" Kernel Version: {}", g("KernelVersion"));
    println!(" Operating System: {}", g("OperatingSystem"));
    println!(" OSType: {}", g("OSType"));
    println!(" Architecture: {}", g("Architecture"));
    println!(" CPUs: {}", g("NCPU"));
    println!(
        " Total Memory: {}",
        bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0))
    );
    println!(" Name: {}", g("Name"));
    println!(" ID: {}", g("ID"));
    println!(" Docker Root Dir: {}", g("DockerRootDir"));
    println!(" Debug Mode: {}", g("Debug"));
    println!(
        " Experimental: {}",
        i["ExperimentalBuild"].as_bool().unwrap_or(false)
    );
    let cidrs: Vec<String> = i["RegistryConfig"]["InsecureRegistryCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(go_print)
        .collect();
    if !cidrs.is_empty() {
        println!(" Insecure Registries:");
        for c in cidrs {
            println!("  {c}");
        }
    }
    println!(" Live Restore Enabled: {}", g("LiveRestoreEnabled"));
    for w in i["Warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln!("{w}");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    pub filter: Vec<String>,
}

fn reclaim(total: f64, reclaimable: f64) -> String {
    let size = super::super::format::human_size(reclaimable);
    if total > 0.0 {
        format!("{size} ({}%)", (reclaimable * 100.0 / total) as i64)
    } else {
        size
    }
}

pub async fn df(ctx: &Ctx, a: DfArgs) -> Result<()> {
    use super::super::format::{header, human_size, row, Formatter};
    let d = ctx.client.get_json("/system/df").await?;
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let (images, containers, volumes, cache) = (
        arr("Images"),
        arr("Containers"),
        arr("Volumes"),
        arr("BuildCache"),
    );
    if a.verbose && a.format.is_none() {
        println!("Images space usage:\n");
        let rows: Vec<Value> = images
            .iter()
            .map(|i| {
                let tag = i["RepoTags"][0].as_str().unwrap_or("<none>:<none>");
                let (repo, t) = super::images::split_reference(tag);
                row(vec![
                    ("Repository", json!(repo)),
                    ("Tag", json!(t)),
                    (
                        "ID",
                        json!(super::super::format::short_id(
                            i["Id"].as_str().unwrap_or("")
                        )),
                    ),
                    (
                        "CreatedSince",
                        json!(super::super::format::ago(
                            i["Created"].as_i64().unwrap_or(0)
                        )),
                    ),
                    ("Size", json!(human_size(num(&i["Size"])))),
                    (
                        "SharedSize",
                        json!(human_size(num(&i["SharedSize"]).max(0.0))),
                    ),
                    (
                        "UniqueSize",
                        json!(human_size(
                            (num(&i["Size"]) - num(&i["SharedSize"]).max(0.0)).max(0.0)
                        )),
                    ),
                    (
                        "Containers",
                        json!(i["Containers"].as_i64().unwrap_or(0).to_string()),
                    ),
                ])
            })
            .collect();
        let hdr: fn(&str) -> String = |f| {
            if f == "ID" {
                "IMAGE ID".into()
            } else {
                header(f)
            }
        };
        print!("{}", Formatter::new(None, "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", hdr)?.render(&rows)?);
        println!("\nContainers space usage:\n");
        let rows: Vec<Value> = containers
            .iter()
            .map(|c| {
                row(vec![
                    (
                        "ID",
                        json!(c["Id"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(12)
                            .collect::<String>()),
                    ),
                    ("Image", json!(c["Image"].as_str().unwrap_or(""))),
                    (
                        "Command",
                        json!(super::super::format::go_quote(
                            &super::super::format::ellipsis(
                                c["Command"].as_str().unwrap_or(""),
                                20
                            )
                        )),
                    ),
                    (
                        "LocalVolumes",
                        json!(c["Mounts"]
                            .as_array()
                            .map(|m| m.iter().filter(|x| x["Driver"] == "local").count())
                            .unwrap_or(0)
                            .to_string()),
                    ),
                    ("Size", json!(human_size(num(&c["SizeRw"])))),
                    (
                        "RunningFor",
                        json!(super::super::format::ago(
                            c["Created"].as_i64().unwrap_or(0)
                        )),
                    ),
                    ("Status", json!(c["Status"].as_str().unwrap_or(""))),
                    (
                        "Names",
                        json!(c["Names"][0].as_str().unwrap_or("").trim_start_matches('/')),
                    ),
                ])
            })
            .collect();
        print!("{}", Formatter::new(None, "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", header)?.render(&rows)?);
        println!("\nLocal Volumes space usage:\n");
        let rows: Vec<Value> = volumes
            .iter()
            .map(|v| {
                row(vec![
                    ("Name", json!(v["Name"].as_str().unwrap_or(""))),
                    (
                        "Links",
                        json!(v["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string()),
                    ),
                    (
                        "Size",
                        json!(human_size(num(&v["UsageData"]["Size"]).max(0.0))),
                    ),
                ])
            })
            .collect();
        let vh: fn(&str) -> String = |f| {
            if f == "Name" {
                "VOLUME NAME".into()
            } else {
                header(f)
            }
        };
        print!(
            "{}",
            Formatter::new(None, "table {{.Name}}\t{{.Links}}\t{{.Size}}", vh)?.render(&rows)?
        );
        let total: f64 = cache.iter().map(|c| num(&c["Size"])).sum();
        println!("\nBuild cache usage: {}\n", human_size(total));
        return Ok(());
    }
    let img_total = num(&d["LayersSize"]);
    let img_active = images
        .iter()
        .filter(|i| num(&i["Containers"]) > 0.0)
        .count();
    let img_used: f64 = images
        .iter()
        .filter(|i| num(&i["Containers"]) > 0.0)
        .map(|i| num(&i["Size"]) - num(&i["SharedSize"]).max(0.0))
        .sum::<f64>()
        + images
            .iter()
            .filter(|i| num(&i["Containers"]) > 0.0)
            .map(|i| num(&i["SharedSize"]).max(0.0))
            .fold(0.0, f64::max);
    let c_total: f64 = containers.iter().map(|c| num(&c["SizeRw"])).sum();
    let c_active = containers
        .iter()
        .filter(|c| c["State"] == "running")
        .count();
    let c_reclaim: f64 = containers
        .iter()
        .filter(|c| c["State"] != "running")
        .map(|c| num(&c["SizeRw"]))
        .sum();
    let v_total: f64 = volumes
        .iter()
        .map(|v| num(&v["UsageData"]["Size"]).max(0.0))
        .sum();
    let v_active = volumes
        .iter()
        .filter(|v| num(&v["UsageData"]["RefCount"]) > 0.0)
        .count();
    let v_reclaim: f64 = volumes
        .iter()
        .filter(|v| num(&v["UsageData"]["RefCount"]) == 0.0)
        .map(|v| num(&v["UsageData"]["Size"]).max(0.0))
        .sum();
    let b_total: f64 = cache.iter().map(|c| num(&c["Size"])).sum();
    let b_active = cache.iter().filter(|c| c["InUse"] == true).count();
    let b_reclaim: f64 = cache
        .iter()
        .filter(|c| c["InUse"] != true && c["Shared"] != true)
        .map(|c| num(&c["Size"]))
        .sum();
    let rows = vec![
        row(vec![
            ("Type", json!("Images")),
            ("TotalCount", json!(images.len().to_string())),
            ("Active", json!(img_active.to_string())),
            ("Size", json!(human_size(img_total))),
            (
                "Reclaimable",
                json!(reclaim(img_total, (img_total - img_used).max(0.0))),
            ),
        ]),
        row(vec![
            ("Type", json!("Containers")),
            ("TotalCount", json!(containers.len().to_string())),
            ("Active", json!(c_active.to_string())),
            ("Size", json!(human_size(c_total))),
            ("Reclaimable", json!(reclaim(c_total, c_reclaim))),
        ]),
        row(vec![
            ("Type", json!("Local Volumes")),
            ("TotalCount", json!(volumes.len().to_string())),
            ("Active", json!(v_active.to_string())),
            ("Size", json!(human_size(v_total))),
            ("Reclaimable", json!(reclaim(v_total, v_reclaim))),
        ]),
        row(vec![
            ("Type", json!("Build Cache")),
            ("TotalCount", json!(cache.len().to_string())),
            ("Active", json!(b_active.to_string())),
            ("Size", json!(human_size(b_total))),
            ("Reclaimable", json!(human_size(b_reclaim))),
        ]),
    ];
    let f = Formatter::new(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        header,
    )?;
    print!("{}", f.render(&rows)?);
    Ok(())
}

pub async fn prune(ctx: &Ctx, a: SystemPruneArgs) -> Result<()> {
    use super::super::client::query;
    use super::super::format::human_size;
    use super::lifecycle::{confirm, print_prune};
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    warning.push_str("  - unused build cache\n");
    if !a.force && !confirm(&warning) {
        return Ok(());
    }
    let filters = super::ps::filters_json(&a.filter)?;
    let q = filters
        .clone()
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let mut space = 0u64;
    let v = ctx
        .client
        .post_json(&format!("/containers/prune{q}"), None)
        .await?;
    space += print_prune(&v, "ContainersDeleted", "Deleted Containers:");
    let v = ctx
        .client
        .post_json(&format!("/networks/prune{q}"), None)
        .await?;
    print_prune(&v, "NetworksDeleted", "Deleted Networks:");
    if a.volumes {
        let v = ctx
            .client
            .post_json(&format!("/volumes/prune{q}"), None)
            .await?;
        space += print_prune(&v, "VolumesDeleted", "Deleted Volumes:");
    }
    let mut f = a.filter.clone();
    f.push(format!("dangling={}", !a.all));
    let iq = super::ps::filters_json(&f)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let v = ctx
        .client
        .post_json(&format!("/images/prune{iq}"), None)
        .await?;
    super::image_ops::print_images_deleted(&v);
    space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    if let Ok(v) = ctx
        .client
        .post_json(&format!("/build/prune{q}"), None)
        .await
    {
        space += print_prune(&v, "CachesDeleted", "Deleted build cache objects:");
    }
    println!("Total reclaimed space: {}", human_size(space as f64));
    Ok(())
}
