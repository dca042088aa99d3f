//! The resolver against a name server of the test's own: answers are kept for their TTL, and a
//! name that did not exist resolves once it does, without anything restarted.

use super::*;
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SOA};
use hickory_resolver::proto::rr::{Name, RData, Record};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A UDP name server answering `A` queries for one name, with what the test sets.
struct NameServer {
    address: SocketAddr,
    /// The address answered (`None`: the name does not exist) and its TTL in seconds.
    answer: Arc<Mutex<Option<(Ipv4Addr, u32)>>>,
    queries: Arc<AtomicUsize>,
}

impl NameServer {
    async fn start() -> NameServer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let answer: Arc<Mutex<Option<(Ipv4Addr, u32)>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let (task_answer, task_queries) = (answer.clone(), queries.clone());
        tokio::spawn(async move {
            let mut buffer = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
                let Ok(query) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                task_queries.fetch_add(1, Ordering::SeqCst);
                let reply = answer_to(&query, *task_answer.lock().unwrap());
                let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
            }
        });
        NameServer {
            address,
            answer,
            queries,
        }
    }

    fn set(&self, answer: Option<(Ipv4Addr, u32)>) {
        *self.answer.lock().unwrap() = answer;
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn answer_to(query: &Message, answer: Option<(Ipv4Addr, u32)>) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    for question in query.queries() {
        reply.add_query(question.clone());
    }
    let name = query.queries()[0].name().clone();
    let is_a = query.queries()[0].query_type() == hickory_resolver::proto::rr::RecordType::A;
    match answer {
        Some((ip, ttl)) if is_a => {
            reply.add_answer(Record::from_rdata(name, ttl, RData::A(A(ip))));
        }
        Some(_) => {}
        None => {
            // "No such name", cacheable for one second (the SOA's minimum).
            reply.set_response_code(ResponseCode::NXDomain);
            let zone = Name::from_ascii("test.").unwrap();
            let soa = SOA::new(zone.clone(), zone.clone(), 1, 60, 60, 60, 1);
            reply.add_name_server(Record::from_rdata(zone, 1, RData::SOA(soa)));
        }
    }
    reply
}

async fn resolve(resolver: &Resolver) -> Option<SocketAddr> {
    resolver.resolve("svc.test.", 8080).await.ok()
}

#[tokio::test]
async fn answers_are_kept_for_their_ttl_and_a_new_name_resolves() {
    let server = NameServer::start().await;
    let resolver = Resolver::with_name_servers(&[server.address]);

    // Not there yet: a failure, and the failure is not kept for long.
    assert_eq!(resolve(&resolver).await, None);
    assert!(server.queries() >= 1);
    server.set(Some((Ipv4Addr::new(127, 0, 0, 7), 1)));
    let deadline = std::time::Instant::now() + Duration::from_secs(NEGATIVE_MAX_TTL.as_secs() + 2);
    let first = loop {
        if let Some(address) = resolve(&resolver).await {
            break address;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new name never resolved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first, "127.0.0.7:8080".parse().unwrap());

    // Within the TTL the answer comes from the cache, even after the record changed.
    let asked = server.queries();
    server.set(Some((Ipv4Addr::new(127, 0, 0, 8), 1)));
    assert_eq!(resolve(&resolver).await, Some(first));
    assert_eq!(server.queries(), asked, "answered from the cache");

    // Once the TTL has passed, the name is asked again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        resolve(&resolver).await,
        Some("127.0.0.8:8080".parse().unwrap())
    );
    assert!(server.queries() > asked);
}

#[tokio::test]
async fn addresses_need_no_lookup_and_reserved_names_fail_at_once() {
    let resolver = Resolver::with_name_servers(&[]);
    assert_eq!(
        resolver.resolve("::1", 80).await.unwrap(),
        "[::1]:80".parse().unwrap()
    );
    assert_eq!(
        resolver.resolve("localhost", 80).await.unwrap(),
        "127.0.0.1:80".parse().unwrap()
    );
    let started = std::time::Instant::now();
    assert!(resolver.resolve("no-such-host.invalid", 80).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(1));
}
