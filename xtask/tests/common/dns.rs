//! A programmable DNS server on a loopback address, port 53, UDP and TCP,
//! for the resolver tests: each query is answered by a zone function
//! (records, NXDOMAIN, NODATA, SERVFAIL, REFUSED, no answer, or truncated
//! over UDP) and logged with its name, type, transport, whether it carried
//! EDNS, and when it came. Port 53 because resolv.conf names no port:
//! the tests run as root, each server on an address of its own
//! (127.0.53.N, or ::1 for the IPv6 case).
//!
//! Over UDP an answer longer than the client can take (512 bytes, or its
//! EDNS size) goes out as a truncated header with TC set, as real servers
//! do; the client then asks over TCP.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simple_dns::rdata::{A, AAAA, CNAME, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, RCODE, ResourceRecord, TYPE};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;

/// One record of an answer.
#[derive(Debug, Clone)]
pub enum Record {
    A(String, Ipv4Addr),
    Aaaa(String, Ipv6Addr),
    Cname(String, String),
}

/// How the zone answers one question.
#[derive(Debug, Clone)]
pub enum Reply {
    /// NOERROR with these records (none: NODATA).
    Records(Vec<Record>),
    NxDomain,
    ServFail,
    Refused,
    /// No answer at all (a dropped packet, a dead server).
    Drop,
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub qtype: u16,
    pub tcp: bool,
    pub edns: bool,
    /// Milliseconds since the server started.
    pub at_ms: u64,
}

pub type Zone = Arc<dyn Fn(&str, u16, bool) -> Reply + Send + Sync>;

/// How the server behaves besides its zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Drop a UDP query that comes from the same address and port as the
    /// one before it within this many milliseconds: the conntrack race in
    /// which a NAT (kube-proxy, Docker's) loses the second of two queries
    /// sent at once from one socket (A and AAAA), the reason glibc has
    /// `single-request` and `single-request-reopen`.
    pub racing_second_query_ms: Option<u64>,
}

pub struct DnsServer {
    pub addr: IpAddr,
    log: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` on `addr`:53 (UDP and TCP) until dropped.
    pub fn start(addr: IpAddr, zone: Zone, behaviour: Behaviour) -> DnsServer {
        let socket = SocketAddr::new(addr, 53);
        let udp = UdpSocket::bind(socket).unwrap_or_else(|e| {
            panic!("binding {socket}/udp (the resolver tests run as root): {e}")
        });
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let tcp = TcpListener::bind(socket).unwrap_or_else(|e| panic!("binding {socket}/tcp: {e}"));
        tcp.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut threads = Vec::new();
        {
            let (zone, log, stop) = (zone.clone(), log.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut last: Option<(SocketAddr, Instant)> = None;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let now = Instant::now();
                    let racing = behaviour.racing_second_query_ms.is_some_and(|window| {
                        last.is_some_and(|(from, at)| {
                            from == peer && now.duration_since(at) < Duration::from_millis(window)
                        })
                    });
                    last = Some((peer, now));
                    if racing {
                        log_only(&buf[..n], &log, started);
                        continue;
                    }
                    if let Some(reply) = answer(&buf[..n], false, &zone, &log, started) {
                        let _ = udp.send_to(&reply, peer);
                    }
                }
            }));
        }
        {
            let (zone, log, stop) = (zone, log.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((stream, _)) = tcp.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    // A connection of its own per client, and every query
                    // on it answered: glibc sends A and AAAA on one.
                    let (zone, log) = (zone.clone(), log.clone());
                    std::thread::spawn(move || serve_tcp(stream, &zone, &log, started));
                }
            }));
        }
        DnsServer {
            addr,
            log,
            stop,
            threads,
        }
    }

    /// The queries so far.
    pub fn queries(&self) -> Vec<Query> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Answers the length-prefixed queries of one TCP connection until the
/// client closes it.
fn serve_tcp(mut stream: TcpStream, zone: &Zone, log: &Mutex<Vec<Query>>, started: Instant) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut query = vec![0u8; u16::from_be_bytes(length) as usize];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        if let Some(reply) = answer(&query, true, zone, log, started) {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend(reply);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

/// Logs a query that the network lost on its way to the server's answer.
fn log_only(bytes: &[u8], log: &Mutex<Vec<Query>>, started: Instant) {
    if let Some(query) = read_query(bytes, false, started) {
        log.lock().unwrap().push(query);
    }
}

fn read_query(bytes: &[u8], tcp: bool, started: Instant) -> Option<Query> {
    let query = Packet::parse(bytes).ok()?;
    let question = query.questions.first()?;
    Some(Query {
        name: question.qname.to_string(),
        qtype: question.qtype.into(),
        tcp,
        edns: query.opt().is_some(),
        at_ms: started.elapsed().as_millis() as u64,
    })
}

/// The reply to one query (`None`: say nothing).
fn answer(
    bytes: &[u8],
    tcp: bool,
    zone: &Zone,
    log: &Mutex<Vec<Query>>,
    started: Instant,
) -> Option<Vec<u8>> {
    let seen = read_query(bytes, tcp, started)?;
    let (name, qtype) = (seen.name.clone(), seen.qtype);
    log.lock().unwrap().push(seen);
    let query = Packet::parse(bytes).ok()?;
    let question = query.questions.first()?;
    let edns = query.opt().map(|o| o.udp_packet_size);
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    reply.questions.push(question.clone());
    let reply_kind = zone(&name, qtype, tcp);
    match &reply_kind {
        Reply::Drop => return None,
        Reply::NxDomain => *reply.rcode_mut() = RCODE::NameError,
        Reply::ServFail => *reply.rcode_mut() = RCODE::ServerFailure,
        Reply::Refused => *reply.rcode_mut() = RCODE::Refused,
        Reply::Records(records) => {
            for record in records {
                reply.answers.push(resource_record(record));
            }
        }
    }
    let bytes = reply.build_bytes_vec_compressed().ok()?;
    let limit = edns.map_or(512, |size| size.max(512) as usize);
    if !tcp && bytes.len() > limit {
        let mut truncated = Packet::new_reply(query.id());
        truncated.set_flags(
            PacketFlag::RECURSION_DESIRED
                | PacketFlag::RECURSION_AVAILABLE
                | PacketFlag::TRUNCATION,
        );
        truncated.questions.push(question.clone());
        return truncated.build_bytes_vec().ok();
    }
    Some(bytes)
}

fn resource_record(record: &Record) -> ResourceRecord<'_> {
    let (name, data) = match record {
        Record::A(name, ip) => (
            name,
            RData::A(A {
                address: u32::from(*ip),
            }),
        ),
        Record::Aaaa(name, ip) => (
            name,
            RData::AAAA(AAAA {
                address: u128::from(*ip),
            }),
        ),
        Record::Cname(name, target) => (
            name,
            RData::CNAME(CNAME(Name::new_unchecked(target.as_str()))),
        ),
    };
    ResourceRecord::new(Name::new_unchecked(name.as_str()), CLASS::IN, 30, data)
}

/// The type of a query, as dig names it.
pub fn type_name(qtype: u16) -> String {
    match TYPE::from(qtype) {
        TYPE::A => "A".into(),
        TYPE::AAAA => "AAAA".into(),
        other => format!("{other:?}"),
    }
}
