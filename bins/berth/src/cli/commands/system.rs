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
    let server = match &negotiated {
        Ok(()) => Some(ctx.client.get_json("/version").await?),
        Err(_) => None,
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
