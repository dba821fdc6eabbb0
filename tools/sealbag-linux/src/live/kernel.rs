//! Kernel tables: `mounts` (`/proc/self/mountinfo`), `modules`
//! (`/proc/modules`), `system` (kernel, OS, uptime, host name, addresses),
//! `routes` (`/proc/net/route`, `ipv6_route`) and `arp` (`/proc/net/arp`).
//! All need the running kernel.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use sealbag_common::engine::{Facts, LiveCollector, LiveContext};
use sealbag_common::profile::LiveTarget;
use serde_json::{json, Value};

use super::{read_at, read_host_text, require_live, Jsonl, SMALL_FILE_CAP, TABLE_CAP};

/// Undoes the octal escapes (`\040` for a space) of `/proc` mount fields.
fn unescape_octal(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (u32::from(b[i + 1] - b'0') << 6)
                | (u32::from(b[i + 2] - b'0') << 3)
                | u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/PID/mountinfo`: one JSON object per mount; malformed lines
/// are returned as `{"unparsed": line}` so nothing is hidden.
pub fn parse_mountinfo(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-");
            match sep {
                Some(sep) if sep >= 6 && f.len() >= sep + 3 => json!({
                    "mount_id": f[0].parse::<u64>().ok(),
                    "parent_id": f[1].parse::<u64>().ok(),
                    "device": f[2],
                    "root": unescape_octal(f[3]),
                    "mount_point": unescape_octal(f[4]),
                    "options": f[5],
                    "optional": f[6..sep].join(" "),
                    "fstype": f[sep + 1],
                    "source": unescape_octal(f[sep + 2]),
                    "super_options": f.get(sep + 3).copied().unwrap_or(""),
                }),
                _ => json!({ "unparsed": line }),
            }
        })
        .collect()
}

/// Parses `/proc/modules` (`name size refcount deps state address [taints]`).
pub fn parse_modules(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return json!({ "unparsed": line });
            }
            let deps: Vec<&str> = f[3]
                .split(',')
                .filter(|d| !d.is_empty() && *d != "-")
                .collect();
            json!({
                "name": f[0],
                "size": f[1].parse::<u64>().ok(),
                "refcount": f[2].parse::<i64>().ok(),
                "used_by": deps,
                "state": f[4],
                "address": f[5],
                "taints": f.get(6).map(|t| t.trim_matches(|c| c == '(' || c == ')')),
            })
        })
        .collect()
}

/// IPv4 from a `/proc/net/route` or `arp`-style host-order hex word.
fn hex_v4(hex: &str) -> Option<String> {
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(v.to_ne_bytes()).to_string())
}

/// IPv6 from 32 hex digits in network byte order (`ipv6_route`, `if_inet6`).
fn hex_v6(hex: &str) -> Option<String> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(Ipv6Addr::from(bytes).to_string())
}

/// Parses `/proc/net/route` (IPv4 routes).
pub fn parse_route(text: &str) -> Vec<Value> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 11 {
                return json!({ "unparsed": line });
            }
            json!({
                "family": "ipv4",
                "iface": f[0],
                "destination": hex_v4(f[1]),
                "gateway": hex_v4(f[2]),
                "flags": u32::from_str_radix(f[3], 16).ok(),
                "metric": f[6].parse::<i64>().ok(),
                "mask": hex_v4(f[7]),
                "mtu": f[8].parse::<u64>().ok(),
            })
        })
        .collect()
}

/// Parses `/proc/net/ipv6_route`.
pub fn parse_ipv6_route(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return json!({ "unparsed": line });
            }
            json!({
                "family": "ipv6",
                "destination": hex_v6(f[0]),
                "destination_prefix": u8::from_str_radix(f[1], 16).ok(),
                "source": hex_v6(f[2]),
                "source_prefix": u8::from_str_radix(f[3], 16).ok(),
                "next_hop": hex_v6(f[4]),
                "metric": u32::from_str_radix(f[5], 16).ok(),
                "flags": u32::from_str_radix(f[8], 16).ok(),
                "iface": f[9],
            })
        })
        .collect()
}

/// Parses `/proc/net/arp`.
pub fn parse_arp(text: &str) -> Vec<Value> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return json!({ "unparsed": line });
            }
            json!({
                "ip": f[0],
                "hw_type": f[1],
                "flags": f[2],
                "mac": f[3],
                "mask": f[4],
                "iface": f[5],
            })
        })
        .collect()
}

/// The local IPv4 addresses in `/proc/net/fib_trie` (`/32 host LOCAL` leaves).
pub fn parse_fib_trie_local(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_leaf: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(ip) = t.strip_prefix("|-- ") {
            last_leaf = Some(ip);
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last_leaf {
                if ip.parse::<Ipv4Addr>().is_ok() && !out.iter().any(|o| o == ip) {
                    out.push(ip.to_string());
                }
            }
        }
    }
    out
}

/// Parses `/proc/net/if_inet6`: (address, prefix length, interface).
pub fn parse_if_inet6(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(json!({
                "addr": hex_v6(f[0])?,
                "prefix": u8::from_str_radix(f[2], 16).ok()?,
                "iface": f[5],
            }))
        })
        .collect()
}

fn write_table(
    context: &mut LiveContext<'_>,
    kind: &str,
    sources: &[&str],
    parse: &[fn(&str) -> Vec<Value>],
) -> Result<(), String> {
    if !require_live(context, kind) {
        return Ok(());
    }
    let mut out = Jsonl::new(context)?;
    let mut facts = Facts::new();
    for (path, parse) in sources.iter().zip(parse) {
        let read_at = read_at();
        match read_host_text(Path::new(path), TABLE_CAP) {
            Ok(text) => {
                for mut row in parse(&text) {
                    if let Some(obj) = row.as_object_mut() {
                        obj.insert("read_at".into(), read_at.clone().into());
                        obj.insert("source".into(), (*path).into());
                    }
                    out.write(&row)?;
                }
            }
            Err(e) => {
                facts.insert(format!("{path} error"), e.to_string().into());
            }
        }
    }
    out.finish(context, &format!("live/{kind}.jsonl"), "procfs", facts)
}

/// `mounts`: the collector's mount table.
#[derive(Debug)]
pub struct MountsCollector;
impl LiveCollector for MountsCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["mounts"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        write_table(
            context,
            "mounts",
            &["/proc/self/mountinfo"],
            &[parse_mountinfo],
        )
    }
}

/// `modules`: loaded kernel modules.
#[derive(Debug)]
pub struct ModulesCollector;
impl LiveCollector for ModulesCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["modules"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        write_table(context, "modules", &["/proc/modules"], &[parse_modules])
    }
}

/// `routes`: IPv4 and IPv6 routing tables.
#[derive(Debug)]
pub struct RoutesCollector;
impl LiveCollector for RoutesCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["routes"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        write_table(
            context,
            "routes",
            &["/proc/net/route", "/proc/net/ipv6_route"],
            &[parse_route, parse_ipv6_route],
        )
    }
}

/// `arp`: the neighbour cache.
#[derive(Debug)]
pub struct ArpCollector;
impl LiveCollector for ArpCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["arp"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        write_table(context, "arp", &["/proc/net/arp"], &[parse_arp])
    }
}

/// `system`: one record describing the running system.
#[derive(Debug)]
pub struct SystemCollector;

fn small(path: &str) -> Option<String> {
    read_host_text(Path::new(path), SMALL_FILE_CAP)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Interfaces from `/sys/class/net`: name, MAC, state, MTU.
fn interfaces() -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .take(4096)
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let at = |leaf: &str| small(&format!("/sys/class/net/{name}/{leaf}"));
            json!({
                "name": name,
                "mac": at("address"),
                "state": at("operstate"),
                "mtu": at("mtu").and_then(|m| m.parse::<u64>().ok()),
            })
        })
        .collect()
}

impl LiveCollector for SystemCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["system"]
    }
    fn collect(&self, _t: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        if !require_live(context, "system") {
            return Ok(());
        }
        let read_at = read_at();
        let os_release = small("/etc/os-release").or_else(|| small("/usr/lib/os-release"));
        let field = |key: &str| {
            os_release.as_deref().and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|v| v.strip_prefix('='))
                        .map(|v| v.trim_matches('"').to_string())
                })
            })
        };
        let uptime = small("/proc/uptime").and_then(|u| {
            u.split_whitespace()
                .next()
                .and_then(|s| s.parse::<f64>().ok())
        });
        let boot = small("/proc/stat").and_then(|t| crate::host::boot_time(&t));
        let record = json!({
            "read_at": read_at,
            "hostname": small("/proc/sys/kernel/hostname"),
            "domainname": small("/proc/sys/kernel/domainname"),
            "kernel": small("/proc/sys/kernel/osrelease"),
            "kernel_version": small("/proc/sys/kernel/version"),
            "proc_version": small("/proc/version"),
            "cmdline": small("/proc/cmdline"),
            "tainted": small("/proc/sys/kernel/tainted").and_then(|t| t.parse::<u64>().ok()),
            "os_pretty_name": field("PRETTY_NAME"),
            "os_id": field("ID"),
            "os_version_id": field("VERSION_ID"),
            "machine_id": small("/etc/machine-id"),
            "boot_id": small("/proc/sys/kernel/random/boot_id"),
            "uptime_seconds": uptime,
            "boot_time": boot.map(|b| b.to_string()),
            "ipv4_local": small("/proc/net/fib_trie").map(|t| parse_fib_trie_local(&t)),
            "ipv6": small("/proc/net/if_inet6").map(|t| parse_if_inet6(&t)),
            "interfaces": interfaces(),
        });
        let mut out = Jsonl::new(context)?;
        out.write(&record)?;
        out.finish(context, "live/system.jsonl", "procfs", Facts::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_with_escapes_and_garbage() {
        let text = "36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    22 1 0:21 / /proc rw - proc proc rw\nbroken line\n\\ \\0\\07\\\n";
        let rows = parse_mountinfo(text);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["mount_point"], "/mnt/my disk");
        assert_eq!(rows[0]["optional"], "master:1");
        assert_eq!(rows[0]["fstype"], "ext3");
        assert_eq!(rows[0]["source"], "/dev/root");
        assert_eq!(rows[1]["fstype"], "proc");
        assert_eq!(rows[2]["unparsed"], "broken line");
        assert!(rows[3].get("unparsed").is_some());
        assert_eq!(unescape_octal("a\\134b\\0"), "a\\b\\0");
    }

    #[test]
    fn this_machines_mounts_have_root() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").expect("procfs");
        let rows = parse_mountinfo(&text);
        assert_eq!(rows.len(), text.lines().count());
        assert!(rows.iter().any(|r| r["mount_point"] == "/"));
        assert!(rows.iter().all(|r| r.get("unparsed").is_none()));
    }

    #[test]
    fn modules_rows() {
        let rows = parse_modules(
            "nf_tables 360448 1 nft_chain_nat,nft_compat, Live 0xffffffffc0a00000 (OE)\nx 1\n",
        );
        assert_eq!(rows[0]["name"], "nf_tables");
        assert_eq!(rows[0]["size"], 360448);
        assert_eq!(rows[0]["used_by"], json!(["nft_chain_nat", "nft_compat"]));
        assert_eq!(rows[0]["taints"], "OE");
        assert_eq!(rows[1]["unparsed"], "x 1");
    }

    #[test]
    fn routes_and_arp() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        let rows = parse_route(route);
        if cfg!(target_endian = "little") {
            assert_eq!(rows[0]["gateway"], "192.168.1.1");
            assert_eq!(rows[1]["destination"], "192.168.1.0");
            assert_eq!(rows[1]["mask"], "255.255.255.0");
        }
        assert_eq!(rows[0]["flags"], 3);
        let v6 = parse_ipv6_route("20010db8000000000000000000000000 20 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000100 00000001 00000000 00000003 eth0\nshort\n");
        assert_eq!(v6[0]["destination"], "2001:db8::");
        assert_eq!(v6[0]["destination_prefix"], 32);
        assert_eq!(v6[0]["next_hop"], "fe80::1");
        assert_eq!(v6[0]["metric"], 256);
        assert_eq!(v6[1]["unparsed"], "short");
        let arp = parse_arp("IP address       HW type     Flags       HW address            Mask     Device\n192.168.1.1      0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0\n");
        assert_eq!(arp[0]["mac"], "aa:bb:cc:dd:ee:ff");
        assert_eq!(arp[0]["iface"], "eth0");
        assert_eq!(hex_v6("zz"), None);
        assert_eq!(hex_v6("é00000000000000000000000000000"), None);
    }

    #[test]
    fn local_addresses() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\n        |-- 10.1.2.3\n           /32 host LOCAL\nLocal:\n        |-- 127.0.0.1\n           /32 host LOCAL\n";
        assert_eq!(parse_fib_trie_local(trie), vec!["127.0.0.1", "10.1.2.3"]);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nbad\n";
        let rows = parse_if_inet6(inet6);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["addr"], "::1");
        assert_eq!(rows[0]["prefix"], 128);
        if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
            assert!(parse_fib_trie_local(&text).contains(&"127.0.0.1".to_string()));
        }
    }
}
