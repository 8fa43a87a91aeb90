//! The HTTP workload. `serve` is the server under test: hyper on a tokio
//! runtime, one JSON endpoint that parses an order and answers with a
//! receipt (a few hundred small allocations per request, made and freed on
//! whichever worker thread runs the task). `load` is the load generator:
//! keep-alive connections that each send requests back to back for a fixed
//! time and record every latency.
//!
//! The bench runs `load` from one binary for every variant, so only the
//! server's allocator differs between runs.

use std::{
    io::{Read, Write},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Bytes, Incoming},
    Request, Response,
};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

static REQUESTS_SERVED: AtomicU64 = AtomicU64::new(0);

/// Serves on 127.0.0.1 (port printed as `listening ADDR` on stdout) until
/// stdin closes, then prints the process's CPU time (`cpu_us=N`, user +
/// system, all threads) on stderr. Returns the number of requests served.
pub fn serve(threads: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        println!("listening {addr}");
        std::io::stdout().flush().expect("stdout");
        tokio::spawn(accept_loop(listener));
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()))
            .await
            .expect("stdin reader")
            .ok();
    });
    drop(runtime);
    eprintln!("cpu_us={}", cpu_time_us());
    REQUESTS_SERVED.load(Ordering::Relaxed)
}

async fn accept_loop(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                let body = request.into_body().collect().await?.to_bytes();
                REQUESTS_SERVED.fetch_add(1, Ordering::Relaxed);
                Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(receipt(&body)))))
            });
            // A connection that the load generator drops mid-request is not an error here.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The endpoint: an order in, a priced receipt out.
fn receipt(body: &[u8]) -> Vec<u8> {
    let Ok(order) = serde_json::from_slice::<serde_json::Value>(body) else {
        return br#"{"error":"the body is not JSON"}"#.to_vec();
    };
    let items = order["items"].as_array().map_or(&[][..], Vec::as_slice);
    let mut total = 0.0;
    let lines: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            let amount =
                item["qty"].as_f64().unwrap_or(0.0) * item["price"].as_f64().unwrap_or(0.0);
            total += amount;
            serde_json::json!({
                "sku": format!("SKU-{}", item["id"]),
                "name": item["name"].as_str().unwrap_or("").to_uppercase(),
                "tags": item["tags"].clone(),
                "amount": amount,
            })
        })
        .collect();
    let receipt = serde_json::json!({
        "customer": order["customer"].clone(),
        "lines": lines,
        "total": total,
    });
    serde_json::to_vec(&receipt).expect("a JSON value serialises")
}

fn order_body() -> Bytes {
    let items: Vec<serde_json::Value> = (0..25)
        .map(|i| {
            serde_json::json!({
                "id": i,
                "name": format!("widget number {i}"),
                "qty": 1 + i % 4,
                "price": 9.5 + i as f64,
                "tags": ["blue", "large", "sale"],
            })
        })
        .collect();
    let order = serde_json::json!({"customer": {"id": 42, "name": "Ada"}, "items": items});
    Bytes::from(serde_json::to_vec(&order).expect("a JSON value serialises"))
}

/// Drives `addr` with `connections` keep-alive connections for `millis`,
/// then prints `requests=N seconds=S p50_us=P p99_us=Q` on stdout. Every
/// answer must be 200 with a non-empty body. Returns the request count.
pub fn load(addr: &str, connections: usize, millis: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let body = order_body();
    let started = Instant::now();
    let deadline = started + Duration::from_millis(millis as u64);
    let mut latencies_us: Vec<u32> = runtime.block_on(async {
        let clients: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(addr.to_owned(), body.clone(), deadline)))
            .collect();
        let mut all = Vec::new();
        for client in clients {
            all.extend(client.await.expect("client task"));
        }
        all
    });
    let seconds = started.elapsed().as_secs_f64();
    if latencies_us.is_empty() {
        eprintln!("no request completed");
        std::process::exit(1);
    }
    latencies_us.sort_unstable();
    let percentile =
        |p: usize| latencies_us[(latencies_us.len() * p / 100).min(latencies_us.len() - 1)];
    println!(
        "requests={} seconds={seconds:.3} p50_us={} p99_us={}",
        latencies_us.len(),
        percentile(50),
        percentile(99)
    );
    latencies_us.len() as u64
}

async fn client(addr: String, body: Bytes, deadline: Instant) -> Vec<u32> {
    let stream = TcpStream::connect(&addr)
        .await
        .expect("connect to the server");
    stream.set_nodelay(true).ok();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut latencies_us = Vec::new();
    while Instant::now() < deadline {
        let request = Request::post("/order")
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let sent = Instant::now();
        let response = sender.send_request(request).await.expect("a response");
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        assert!(
            status == 200 && answer.starts_with(b"{\"customer\""),
            "bad answer: {status}"
        );
        latencies_us.push(sent.elapsed().as_micros() as u32);
    }
    latencies_us
}

fn cpu_time_us() -> u64 {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}
