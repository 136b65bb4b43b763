//! `network create|ls|inspect|rm|connect|disconnect|prune`: docker's network verbs over
//! /networks, with docker's IPAM checks done on the client (as the docker CLI does them, before
//! anything reaches the daemon), its tables, `--format`, `-q` and error lines.

use super::super::client::{enc, query, version_lt};
use super::super::format::{go_time, header, natural_cmp, row, Formatter};
use super::super::{Ctx, StatusError};
use super::lifecycle::{confirm, print_prune};
use super::ps::filters_json;
use super::{fail_with, Arity};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv6: Option<bool>,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// NETWORK
    #[arg(value_name = "NETWORK")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// NETWORK...
    #[arg(value_name = "NETWORK")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK...
    #[arg(value_name = "NETWORK")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt")]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway
    #[arg(long = "gw-priority", allow_hyphen_values = true)]
    pub gw_priority: Option<i64>,
    /// NETWORK CONTAINER
    #[arg(value_name = "NETWORK CONTAINER")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK CONTAINER
    #[arg(value_name = "NETWORK CONTAINER")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

impl NetworkCommand {
    /// Docker's argument-count checks, made before connecting.
    pub fn check(&self) -> Result<()> {
        let (verb, usage, arity, n) = match self {
            NetworkCommand::Create(a) => {
                ("create", "[OPTIONS] NETWORK", Arity::Exact(1), a.args.len())
            }
            NetworkCommand::Ls(a) => ("ls", "[OPTIONS]", Arity::None, a.args.len()),
            NetworkCommand::Inspect(a) => (
                "inspect",
                "[OPTIONS] NETWORK [NETWORK...]",
                Arity::Min(1),
                a.args.len(),
            ),
            NetworkCommand::Rm(a) => ("rm", "NETWORK [NETWORK...]", Arity::Min(1), a.args.len()),
            NetworkCommand::Connect(a) => (
                "connect",
                "[OPTIONS] NETWORK CONTAINER",
                Arity::Exact(2),
                a.args.len(),
            ),
            NetworkCommand::Disconnect(a) => (
                "disconnect",
                "[OPTIONS] NETWORK CONTAINER",
                Arity::Exact(2),
                a.args.len(),
            ),
            NetworkCommand::Prune(a) => ("prune", "[OPTIONS]", Arity::None, a.args.len()),
        };
        arity.check(&format!("network {verb}"), usage, n)
    }
}

pub async fn dispatch(ctx: &Ctx, c: NetworkCommand) -> Result<()> {
    match c {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Rm(a) => rm(ctx, a).await,
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
    }
}

/// `key=value` items as a map; a bare `key` maps to "" (docker's `-o`, `--label`).
pub fn string_map(items: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for it in items {
        let (k, v) = it.split_once('=').unwrap_or((it.as_str(), ""));
        m.insert(k.to_string(), json!(v));
    }
    m
}

/// An address and prefix length parsed from CIDR text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, b) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let bits: u8 = b.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { addr, bits })
    }

    fn bits_of(a: IpAddr) -> u128 {
        match a {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        }
    }

    /// The prefix of `a`, as far as this network's mask reaches.
    fn masked(&self, a: IpAddr) -> u128 {
        let len = if self.addr.is_ipv4() {
            u32::from(self.bits) + 96
        } else {
            u32::from(self.bits)
        };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        Self::bits_of(a) & mask
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && self.masked(a) == self.masked(self.addr)
    }

    fn overlaps(&self, o: &Cidr) -> bool {
        self.contains(o.addr) || o.contains(self.addr)
    }
}

/// An address given as `a.b.c.d` or CIDR (docker accepts both for ip-range matching).
fn first_addr(s: &str) -> Option<IpAddr> {
    s.split('/').next()?.parse().ok()
}

/// docker's `createIPAMConfig`: each ip-range, gateway and aux-address goes to the subnet that
/// contains it; the checks and their wording are the docker CLI's.
pub fn ipam_config(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[String],
) -> Result<Vec<Value>> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let mut parsed: Vec<(Option<Cidr>, Map<String, Value>)> = Vec::new();
    for s in subnets {
        let c = Cidr::parse(s);
        if let Some(c) = c {
            if parsed
                .iter()
                .any(|(p, _)| p.is_some_and(|p| p.overlaps(&c)))
            {
                bail!("multiple overlapping subnet configuration is not allowed");
            }
        }
        let mut m = Map::new();
        m.insert("Subnet".into(), json!(s));
        parsed.push((c, m));
    }
    for r in ranges {
        let addr = first_addr(r);
        let Some((_, m)) = parsed
            .iter_mut()
            .find(|(c, _)| matches!((c, addr), (Some(c), Some(a)) if c.contains(a)))
        else {
            bail!("no matching subnet for range {r}");
        };
        if let Some(prev) = m.get("IPRange").and_then(Value::as_str) {
            bail!(
                "cannot configure multiple ranges ({r}, {prev}) on the same subnet ({})",
                m["Subnet"].as_str().unwrap_or("")
            );
        }
        m.insert("IPRange".into(), json!(r));
    }
    for g in gateways {
        let addr = first_addr(g);
        let Some((_, m)) = parsed
            .iter_mut()
            .find(|(c, _)| matches!((c, addr), (Some(c), Some(a)) if c.contains(a)))
        else {
            bail!("no matching subnet for gateway {g}");
        };
        if let Some(prev) = m.get("Gateway").and_then(Value::as_str) {
            bail!(
                "cannot configure multiple gateways ({g}, {prev}) for the same subnet ({})",
                m["Subnet"].as_str().unwrap_or("")
            );
        }
        m.insert("Gateway".into(), json!(g));
    }
    for x in aux {
        let (name, ip) = x.split_once('=').unwrap_or((x.as_str(), ""));
        let addr: Option<IpAddr> = ip.parse().ok();
        let Some((_, m)) = parsed
            .iter_mut()
            .find(|(c, _)| matches!((c, addr), (Some(c), Some(a)) if c.contains(a)))
        else {
            bail!("no matching subnet for aux-address {ip}");
        };
        let e = m.entry("AuxiliaryAddresses").or_insert_with(|| json!({}));
        e[name] = json!(ip);
    }
    Ok(parsed.into_iter().map(|(_, m)| Value::Object(m)).collect())
}

pub async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let name = &a.args[0];
    let config = ipam_config(&a.subnet, &a.ip_range, &a.gateway, &a.aux_address)?;
    let mut body = Map::new();
    body.insert("Name".into(), json!(name));
    body.insert("Driver".into(), json!(a.driver));
    body.insert("Scope".into(), json!(a.scope.clone().unwrap_or_default()));
    if let Some(v6) = a.ipv6 {
        body.insert("EnableIPv6".into(), json!(v6));
    }
    body.insert(
        "IPAM".into(),
        json!({"Driver": a.ipam_driver, "Options": string_map(&a.ipam_opt), "Config": config}),
    );
    body.insert("Internal".into(), json!(a.internal));
    body.insert("Attachable".into(), json!(a.attachable));
    body.insert("Ingress".into(), json!(a.ingress));
    body.insert("ConfigOnly".into(), json!(false));
    body.insert("Options".into(), Value::Object(string_map(&a.opt)));
    body.insert("Labels".into(), Value::Object(string_map(&a.label)));
    // Daemons before API 1.44 create a second network of the same name unless asked not to.
    if version_lt(ctx.client.api_version(), "1.44") {
        body.insert("CheckDuplicate".into(), json!(true));
    }
    let v = ctx
        .client
        .post_json("/networks/create", Some(&Value::Object(body)))
        .await?;
    if let Some(w) = v["Warning"].as_str().filter(|w| !w.is_empty()) {
        eprintln!("WARNING: {w}");
    }
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}

/// Docker's header names for the network table.
fn net_header(field: &str) -> String {
    match field {
        "ID" => "NETWORK ID".into(),
        "IPv6" => "IPV6".into(),
        "IPv4" => "IPV4".into(),
        other => header(other),
    }
}

fn network_row(n: &Value, trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or("");
    let id = if trunc {
        id.chars().take(12).collect()
    } else {
        id.to_string()
    };
    let flag = |k: &str| json!(n[k].as_bool().unwrap_or(false).to_string());
    row(vec![
        (
            "CreatedAt",
            json!(go_time(n["Created"].as_str().unwrap_or(""))),
        ),
        ("Driver", json!(n["Driver"].as_str().unwrap_or(""))),
        ("ID", json!(id)),
        ("IPv4", flag("EnableIPv4")),
        ("IPv6", flag("EnableIPv6")),
        ("Internal", flag("Internal")),
        (
            "Labels",
            json!(super::super::format::joined_labels(&n["Labels"])),
        ),
        ("Name", json!(n["Name"].as_str().unwrap_or(""))),
        ("Scope", json!(n["Scope"].as_str().unwrap_or(""))),
    ])
}

pub async fn ls(ctx: &Ctx, a: LsArgs) -> Result<()> {
    let q = filter_query(&a.filter, "network ls")?;
    let list = ctx.client.get_json(&format!("/networks{q}")).await?;
    let mut nets: Vec<&Value> = list.as_array().into_iter().flatten().collect();
    nets.sort_by(|x, y| {
        natural_cmp(
            x["Name"].as_str().unwrap_or(""),
            y["Name"].as_str().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = nets.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    let user = super::super::config::chosen_format(
        &ctx.config_dir,
        "networksFormat",
        a.quiet,
        a.format.as_deref(),
    );
    let f = Formatter::new(
        user.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        net_header,
    )?;
    print!("{}", f.render(&rows)?);
    Ok(())
}

/// `?filters=...` from `-f key=value` flags, with docker's flag error for a bad one.
pub fn filter_query(items: &[String], verb: &str) -> Result<String> {
    for f in items {
        if !f.contains('=') {
            return Err(StatusError {
                code: 125,
                message: Some(format!(
                    "invalid argument {f:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth {verb} [OPTIONS]\n\nRun 'berth {verb} --help' for more information"
                )),
            }
            .into());
        }
    }
    Ok(filters_json(items)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default())
}

/// Prints raw objects as docker's inspect does: an indented JSON array, or one template line
/// per object; then fails with the errors of the names not found.
pub fn print_inspected(raws: &[String], format: Option<&str>, errors: Vec<String>) -> Result<()> {
    super::inspect::print_objects(raws, format)?;
    fail_with(errors)
}

pub async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    let verbose = if a.verbose { "?verbose=true" } else { "" };
    for n in &a.args {
        match ctx
            .client
            .get_raw(&format!("/networks/{}{verbose}", enc(n)))
            .await
        {
            Ok(r) => raws.push(r),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_inspected(&raws, a.format.as_deref(), errors)
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let mut errors = Vec::new();
    for n in &a.args {
        match ctx.client.delete(&format!("/networks/{}", enc(n))).await {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && super::super::client::is_not_found(&e) => {}
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    // docker 28 ends the list with its generic "exit status 1" line.
    errors.push("exit status 1".into());
    fail_with(errors)
}

/// Endpoint settings as docker CLI sends them for `network connect`.
fn endpoint_config(a: &ConnectArgs) -> Value {
    let mut ipam = Map::new();
    if let Some(ip) = &a.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &a.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    let mut ep = Map::new();
    ep.insert("IPAMConfig".into(), Value::Object(ipam));
    ep.insert(
        "Links".into(),
        if a.link.is_empty() {
            Value::Null
        } else {
            json!(a.link)
        },
    );
    ep.insert("Aliases".into(), json!(a.alias));
    ep.insert(
        "DriverOpts".into(),
        Value::Object(string_map(&a.driver_opt)),
    );
    if let Some(p) = a.gw_priority {
        ep.insert("GwPriority".into(), json!(p));
    }
    Value::Object(ep)
}

pub async fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<()> {
    let (net, container) = (&a.args[0], &a.args[1]);
    let body = json!({"Container": container, "EndpointConfig": endpoint_config(&a)});
    ctx.client
        .post_json(&format!("/networks/{}/connect", enc(net)), Some(&body))
        .await?;
    Ok(())
}

pub async fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<()> {
    let (net, container) = (&a.args[0], &a.args[1]);
    let body = json!({"Container": container, "Force": a.force});
    ctx.client
        .post_json(&format!("/networks/{}/disconnect", enc(net)), Some(&body))
        .await?;
    Ok(())
}

pub async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(());
    }
    let q = filters_json(&a.filter)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let v = ctx
        .client
        .post_json(&format!("/networks/prune{q}"), None)
        .await?;
    // Networks free no space: docker prints no total for them.
    print_prune(&v, "NetworksDeleted", "Deleted Networks:");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_assigns_ranges_and_gateways_to_their_subnet() {
        let c = ipam_config(
            &["10.1.0.0/16".into(), "10.2.0.0/16".into()],
            &["10.2.1.0/24".into()],
            &["10.1.0.1".into(), "10.2.0.1".into()],
            &[],
        )
        .expect("valid");
        assert_eq!(
            c[0],
            json!({"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1"})
        );
        assert_eq!(
            c[1],
            json!({"Subnet": "10.2.0.0/16", "IPRange": "10.2.1.0/24", "Gateway": "10.2.0.1"})
        );
    }

    #[test]
    fn ipam_errors_are_dockers() {
        let e = |s: &[&str], r: &[&str], g: &[&str]| {
            let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            ipam_config(&v(s), &v(r), &v(g), &[])
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            e(&[], &[], &["10.0.0.1"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[]),
            "multiple overlapping subnet configuration is not allowed"
        );
        assert_eq!(
            e(&["10.0.0.0/24"], &[], &["10.0.1.1"]),
            "no matching subnet for gateway 10.0.1.1"
        );
        assert_eq!(
            e(&["fd00::/64"], &["10.0.0.0/25"], &[]),
            "no matching subnet for range 10.0.0.0/25"
        );
    }

    #[test]
    fn cidr_contains() {
        let c = Cidr::parse("fd00:77::/64").expect("cidr");
        assert!(c.contains("fd00:77::5".parse().expect("ip")));
        assert!(!c.contains("fd00:78::5".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("cidr")
            .contains("1.2.3.4".parse().expect("ip")));
    }
}
