//! `network`: sockets from `/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,packet,unix}` with their owning
//! processes, found by matching `socket:[INODE]` links under `/proc/*/fd`.
//!
//! The tables describe the collector's network namespace (normally the
//! host's). Addresses are printed by the kernel as the in-memory words of
//! the address in host byte order: an IPv4 address is one 32-bit word, an
//! IPv6 address four; each word's native-endian bytes are the address bytes.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use sealbag_common::engine::{Facts, LiveCollector, LiveContext};
use sealbag_common::profile::LiveTarget;
use serde_json::json;

use super::{read_at, read_host_text, require_live, Jsonl, TABLE_CAP};

/// Most sockets kept from one table, and most owners remembered per socket.
const MAX_SOCKETS: usize = 1_000_000;
const MAX_OWNERS: usize = 32;

/// One row of a `/proc/net` socket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp`, `tcp6`, `udp`, `udp6`, `raw`, `raw6` (raw sockets: ICMP tools, sniffers, backdoors).
    pub proto: &'static str,
    /// Local address.
    pub local: (String, u16),
    /// Remote address.
    pub remote: (String, u16),
    /// State name (`LISTEN`, `ESTABLISHED`…; UDP uses the same numbers).
    pub state: &'static str,
    /// Owner uid.
    pub uid: u32,
    /// Socket inode (0 for time-wait entries, which have no owner).
    pub inode: u64,
}

/// The TCP state names by number (`include/net/tcp_states.h`).
fn state_name(n: u8) -> &'static str {
    match n {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        0x0C => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Decodes `HEXADDR:HEXPORT` as printed in `/proc/net/tcp{,6}` on this
/// machine's byte order. `None` on anything but 8 or 32 hex digits.
pub fn decode_addr(field: &str) -> Option<(String, u16)> {
    decode_addr_with(field, cfg!(target_endian = "little"))
}

/// [`decode_addr`] with the producing machine's byte order made explicit.
pub fn decode_addr_with(field: &str, little_endian: bool) -> Option<(String, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| -> Option<[u8; 4]> {
        let v = u32::from_str_radix(hex, 16).ok()?;
        Some(if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    if !addr.is_ascii() {
        return None;
    }
    let text = match addr.len() {
        8 => Ipv4Addr::from(word(addr)?).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(&addr[i * 8..i * 8 + 8])?);
            }
            Ipv6Addr::from(bytes).to_string()
        }
        _ => return None,
    };
    Some((text, port))
}

/// Parses one `/proc/net` socket table; malformed rows are counted, not fatal.
/// Returns the sockets and the number of rows skipped.
pub fn parse_proc_net(text: &str, proto: &'static str) -> (Vec<Socket>, usize) {
    let mut sockets = Vec::new();
    let mut bad = 0;
    for line in text.lines().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        if sockets.len() >= MAX_SOCKETS {
            bad += 1;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 10 {
                return None;
            }
            Some(Socket {
                proto,
                local: decode_addr(f[1])?,
                remote: decode_addr(f[2])?,
                state: state_name(u8::from_str_radix(f[3], 16).ok()?),
                uid: f[7].parse().ok()?,
                inode: f[9].parse().ok()?,
            })
        })();
        match parsed {
            Some(s) => sockets.push(s),
            None => bad += 1,
        }
    }
    (sockets, bad)
}

/// One row of `/proc/net/packet`: an `AF_PACKET` socket, what sniffers
/// and some backdoors (BPFDoor) open to see every frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketSocket {
    /// `SOCK_RAW` (3) or `SOCK_DGRAM` (2), by name.
    pub kind: &'static str,
    /// Ethertype listened to (`0x0003` is `ETH_P_ALL`: every frame).
    pub ethertype: u16,
    /// Interface index (0: all interfaces).
    pub ifindex: i64,
    /// Owner uid.
    pub uid: u32,
    /// Socket inode.
    pub inode: u64,
}

/// Parses `/proc/net/packet`; returns the sockets and the rows skipped.
pub fn parse_packet(text: &str) -> (Vec<PacketSocket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 9 || out.len() >= MAX_SOCKETS {
                return None;
            }
            Some(PacketSocket {
                kind: match f[2] {
                    "3" => "SOCK_RAW",
                    "2" => "SOCK_DGRAM",
                    _ => "OTHER",
                },
                ethertype: u16::from_str_radix(f[3], 16).ok()?,
                ifindex: f[4].parse().ok()?,
                uid: f[7].parse().ok()?,
                inode: f[8].parse().ok()?,
            })
        })();
        match parsed {
            Some(p) => out.push(p),
            None => bad += 1,
        }
    }
    (out, bad)
}

/// One row of `/proc/net/unix`: a Unix domain socket (named, abstract
/// `@name`, or unnamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// `STREAM`, `DGRAM`, `SEQPACKET` or the number.
    pub kind: String,
    /// `UNCONNECTED`, `CONNECTING`, `CONNECTED`, `DISCONNECTING`.
    pub state: &'static str,
    /// Whether it accepts connections (`__SO_ACCEPTCON` flag).
    pub listening: bool,
    /// Socket inode.
    pub inode: u64,
    /// Bound path (runs of spaces in it collapse to one), if any.
    pub path: Option<String>,
}

/// Parses `/proc/net/unix`; returns the sockets and the rows skipped.
pub fn parse_unix(text: &str) -> (Vec<UnixSocket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 7 || out.len() >= MAX_SOCKETS {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            let kind = match u16::from_str_radix(f[4], 16).ok()? {
                1 => "STREAM".to_string(),
                2 => "DGRAM".to_string(),
                5 => "SEQPACKET".to_string(),
                n => n.to_string(),
            };
            let state = match u8::from_str_radix(f[5], 16).ok()? {
                1 => "UNCONNECTED",
                2 => "CONNECTING",
                3 => "CONNECTED",
                4 => "DISCONNECTING",
                _ => "UNKNOWN",
            };
            Some(UnixSocket {
                kind,
                state,
                listening: flags & 0x0001_0000 != 0,
                inode: f[6].parse().ok()?,
                path: (f.len() > 7).then(|| f[7..].join(" ")),
            })
        })();
        match parsed {
            Some(u) => out.push(u),
            None => bad += 1,
        }
    }
    (out, bad)
}

/// The inode of a `socket:[INODE]` link target.
fn socket_inode(target: &[u8]) -> Option<u64> {
    std::str::from_utf8(target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
        .ok()?
        .parse()
        .ok()
}

/// Reads the four socket tables and their owners.
#[derive(Debug)]
pub struct NetworkCollector {
    /// Where procfs is mounted (`/proc`).
    pub proc_root: PathBuf,
}

impl Default for NetworkCollector {
    fn default() -> Self {
        NetworkCollector {
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl LiveCollector for NetworkCollector {
    fn kinds(&self) -> &'static [&'static str] {
        &["network"]
    }

    fn collect(&self, _target: &LiveTarget, context: &mut LiveContext<'_>) -> Result<(), String> {
        if !require_live(context, "network") {
            return Ok(());
        }
        let table_read_at = read_at();
        let mut sockets = Vec::new();
        let mut facts = Facts::new();
        for proto in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"] {
            let path = self.proc_root.join("net").join(proto);
            match read_host_text(&path, TABLE_CAP) {
                Ok(text) => {
                    let (mut rows, bad) = parse_proc_net(&text, proto);
                    if bad > 0 {
                        facts.insert(format!("{proto}_bad_rows"), bad.into());
                    }
                    sockets.append(&mut rows);
                }
                Err(e) => {
                    facts.insert(
                        format!("{proto}_error"),
                        format!("{}: {e}", path.display()).into(),
                    );
                }
            }
        }
        let packet_path = self.proc_root.join("net/packet");
        let packets = match read_host_text(&packet_path, TABLE_CAP) {
            Ok(text) => {
                let (rows, bad) = parse_packet(&text);
                if bad > 0 {
                    facts.insert("packet_bad_rows".into(), bad.into());
                }
                rows
            }
            Err(e) => {
                facts.insert(
                    "packet_error".into(),
                    format!("{}: {e}", packet_path.display()).into(),
                );
                Vec::new()
            }
        };
        let unix_path = self.proc_root.join("net/unix");
        let unix = match read_host_text(&unix_path, TABLE_CAP) {
            Ok(text) => {
                let (rows, bad) = parse_unix(&text);
                if bad > 0 {
                    facts.insert("unix_bad_rows".into(), bad.into());
                }
                rows
            }
            Err(e) => {
                facts.insert(
                    "unix_error".into(),
                    format!("{}: {e}", unix_path.display()).into(),
                );
                Vec::new()
            }
        };
        // Owners: only inodes that are in the tables are remembered, so the
        // map is bounded by the number of sockets, not of descriptors.
        let wanted: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .chain(packets.iter().map(|p| p.inode))
            .chain(unix.iter().map(|u| u.inode))
            .filter(|i| *i != 0)
            .collect();
        let mut owners: HashMap<u64, Vec<(u32, String)>> = HashMap::new();
        for pid in super::process::pids(&self.proc_root)? {
            if context.stop.is_set() {
                break;
            }
            let dir = self.proc_root.join(pid.to_string());
            let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
                continue;
            };
            let mut comm = None;
            for fd in fds.filter_map(|e| e.ok()) {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let Some(inode) =
                    socket_inode(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()))
                else {
                    continue;
                };
                if !wanted.contains(&inode) {
                    continue;
                }
                let comm = comm
                    .get_or_insert_with(|| {
                        read_host_text(&dir.join("comm"), 4096)
                            .map(|c| c.trim_end().to_string())
                            .unwrap_or_default()
                    })
                    .clone();
                let list = owners.entry(inode).or_default();
                if list.len() < MAX_OWNERS && !list.iter().any(|(p, _)| *p == pid) {
                    list.push((pid, comm));
                }
            }
        }
        let mut out = Jsonl::new(context)?;
        for s in &sockets {
            let owner = owners.get(&s.inode);
            out.write(&json!({
                "read_at": table_read_at,
                "proto": s.proto,
                "state": s.state,
                "local_addr": s.local.0,
                "local_port": s.local.1,
                "remote_addr": s.remote.0,
                "remote_port": s.remote.1,
                "uid": s.uid,
                "inode": s.inode,
                "pid": owner.and_then(|o| o.first()).map(|o| o.0),
                "comm": owner.and_then(|o| o.first()).map(|o| &o.1),
                "pids": owner.map(|o| o.iter().map(|p| p.0).collect::<Vec<_>>()),
            }))?;
        }
        for p in &packets {
            let owner = owners.get(&p.inode);
            out.write(&json!({
                "read_at": table_read_at,
                "proto": "packet",
                "type": p.kind,
                "ethertype": format!("0x{:04x}", p.ethertype),
                "all_frames": p.ethertype == 0x0003,
                "ifindex": p.ifindex,
                "uid": p.uid,
                "inode": p.inode,
                "pid": owner.and_then(|o| o.first()).map(|o| o.0),
                "comm": owner.and_then(|o| o.first()).map(|o| &o.1),
                "pids": owner.map(|o| o.iter().map(|p| p.0).collect::<Vec<_>>()),
            }))?;
        }
        for u in &unix {
            let owner = owners.get(&u.inode);
            out.write(&json!({
                "read_at": table_read_at,
                "proto": "unix",
                "type": u.kind,
                "state": u.state,
                "listening": u.listening,
                "path": u.path,
                "inode": u.inode,
                "pid": owner.and_then(|o| o.first()).map(|o| o.0),
                "comm": owner.and_then(|o| o.first()).map(|o| &o.1),
                "pids": owner.map(|o| o.iter().map(|p| p.0).collect::<Vec<_>>()),
            }))?;
        }
        out.finish(context, "live/network.jsonl", "procfs", facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_v4_and_v6_in_both_byte_orders() {
        assert_eq!(
            decode_addr_with("0100007F:0035", true),
            Some(("127.0.0.1".into(), 53))
        );
        assert_eq!(
            decode_addr_with("7F000001:1F90", false),
            Some(("127.0.0.1".into(), 8080))
        );
        // ::1 on little endian: the last word's bytes 00 00 00 01 read as LE u32.
        assert_eq!(
            decode_addr_with("00000000000000000000000001000000:0016", true),
            Some(("::1".into(), 22))
        );
        // 2001:db8::1 little endian words: B80D0120 00000000 00000000 01000000.
        assert_eq!(
            decode_addr_with("B80D0120000000000000000001000000:01BB", true),
            Some(("2001:db8::1".into(), 443))
        );
        // ::ffff:10.0.0.5
        assert_eq!(
            decode_addr_with("0000000000000000FFFF00000500000A:0050", true),
            Some(("::ffff:10.0.0.5".into(), 80))
        );
        for bad in [
            "",
            ":",
            "0100007F",
            "0100007G:0035",
            "0100007F:10000",
            "01007F:1",
            "é0000007F:1",
        ] {
            assert_eq!(decode_addr_with(bad, true), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_a_table_and_counts_bad_rows() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24718 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:0277 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000  1000        0 99 1\n\
   2: garbage\n\
   3: 0100007F:0277 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000  notanumber 0 99 1\n";
        let (sockets, bad) = parse_proc_net(text, "tcp");
        assert_eq!(bad, 2);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].state, "LISTEN");
        assert_eq!(sockets[0].local, ("127.0.0.1".into(), 631));
        assert_eq!(sockets[0].inode, 24718);
        assert_eq!(sockets[1].remote, ("127.0.0.1".into(), 0xD2C4));
        assert_eq!(sockets[1].uid, 1000);
        assert_eq!(parse_proc_net("", "tcp"), (vec![], 0));
    }

    #[test]
    fn finds_a_listener_of_this_process_in_the_real_table() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let text = std::fs::read_to_string("/proc/net/tcp").expect("procfs");
        let (sockets, bad) = parse_proc_net(&text, "tcp");
        assert_eq!(bad, 0);
        let found = sockets
            .iter()
            .find(|s| s.local == ("127.0.0.1".to_string(), port))
            .expect("listener in /proc/net/tcp");
        assert_eq!(found.state, "LISTEN");
        assert_ne!(found.inode, 0);
    }

    #[test]
    fn packet_sockets() {
        let text = "sk       RefCnt Type Proto  Iface R Rmem   User   Inode\n\
                    ffff9a0c4b7e0800 3      3    0003   0     1 0      0      31337\n\
                    ffff9a0c4b7e1000 3      2    88cc   2     1 0      101    4242\n\
                    ffff truncated\n";
        let (rows, bad) = parse_packet(text);
        assert_eq!(bad, 1);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].kind, "SOCK_RAW");
        assert_eq!(rows[0].ethertype, 3);
        assert_eq!(rows[0].inode, 31337);
        assert_eq!(rows[1].kind, "SOCK_DGRAM");
        assert_eq!(rows[1].ethertype, 0x88cc);
        assert_eq!(rows[1].uid, 101);
        if let Ok(text) = std::fs::read_to_string("/proc/net/packet") {
            assert_eq!(
                parse_packet(&text).1,
                0,
                "this machine's table parses whole"
            );
        }
    }

    #[test]
    fn unix_sockets() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000036e18f27: 00000002 00000000 00010000 0001 01 160112 /run/my app.sock\n\
            000000008f2d642d: 00000003 00000000 00000000 0002 03 160868\n\
            00000000efcd99d1: 00000003 00000000 00000000 0005 03 99 @abstract\n\
            deadbeef: zz\n";
        let (rows, bad) = parse_unix(text);
        assert_eq!(bad, 1);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].listening);
        assert_eq!(rows[0].kind, "STREAM");
        assert_eq!(rows[0].state, "UNCONNECTED");
        assert_eq!(rows[0].path.as_deref(), Some("/run/my app.sock"));
        assert_eq!(rows[1].path, None);
        assert_eq!(rows[1].kind, "DGRAM");
        assert_eq!(rows[1].state, "CONNECTED");
        assert_eq!(rows[2].kind, "SEQPACKET");
        assert_eq!(rows[2].path.as_deref(), Some("@abstract"));
        let listener = std::os::unix::net::UnixListener::bind(
            std::env::temp_dir().join(format!("sealbag-unix-test-{}", std::process::id())),
        )
        .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let path = addr
            .as_pathname()
            .expect("path")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string("/proc/net/unix").expect("procfs");
        let (rows, bad) = parse_unix(&text);
        let _ = std::fs::remove_file(&path);
        assert_eq!(bad, 0);
        let found = rows
            .iter()
            .find(|r| r.path.as_deref() == Some(path.as_str()));
        assert!(
            found.is_some_and(|r| r.listening),
            "{path} listed as listening"
        );
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
    }
}
