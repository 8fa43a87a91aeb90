//! The workloads of `cargo xtask bench`: the same source for every variant
//! (glibc, musl, fastmusl; with or without the mimalloc crate).
//!
//! usage:
//!   alloc-workloads churn THREADS OPS MIN MAX   allocate/free sizes MIN..=MAX
//!   alloc-workloads prodcons THREADS OPS        blocks freed by another thread
//!   alloc-workloads realloc THREADS OPS         Vec/String growth through realloc
//!   alloc-workloads zchurn THREADS OPS MIN MAX  zeroed allocations (vec![0; n]: calloc)
//!   alloc-workloads string FUNC SIZE BYTES      libc's FUNC (memcpy, memmove, memset,
//!                                               memcmp, strlen, memchr) on SIZE bytes,
//!                                               BYTES in all
//!   alloc-workloads json THREADS DOCS           rayon: parse and re-serialise JSON
//!   alloc-workloads zstd THREADS BUFFERS        zstd (C code, mallocs inside) in parallel
//!   alloc-workloads idle THREADS MB SAMPLE_MS…  a burst of MB, freed; RSS sampled while idle
//!   alloc-workloads fresh THREADS MB            a burst of MB zeroed blocks into fresh memory
//!   alloc-workloads phases THREADS MB ROUNDS    bursts of MB in shifting sizes, freed between
//!   alloc-workloads serve THREADS               HTTP server on 127.0.0.1 until stdin closes
//!   alloc-workloads load ADDR CONNECTIONS MILLIS  load generator for `serve`
//! Each prints a checksum so the work cannot be optimised away, and its own
//! peak resident size (`peak_rss_kib=N`, VmHWM) on stderr: measured inside
//! the process, so the parent's memory at fork time does not count.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod http;
mod memory;

use std::{hint::black_box, sync::mpsc, thread};

fn usage() -> ! {
    eprintln!("usage: see the header of src/main.rs");
    std::process::exit(2)
}

fn arg(args: &[String], i: usize) -> usize {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

/// xorshift: cheap, deterministic sizes.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn churn(threads: usize, ops: usize, min: usize, max: usize) -> u64 {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut slots: Vec<Vec<u8>> = (0..256).map(|_| Vec::new()).collect();
                let mut sum = 0u64;
                for i in 0..ops {
                    let size = min + (next(&mut state) as usize) % (max - min + 1);
                    let mut block = Vec::<u8>::with_capacity(size);
                    block.push(i as u8);
                    // Touch every further page, as a program that fills its
                    // buffers would: peak RSS then compares allocators, not
                    // which pages happened to be written.
                    for page in block.spare_capacity_mut().iter_mut().step_by(4096) {
                        page.write(0);
                    }
                    sum += block[0] as u64;
                    slots[i % 256] = black_box(block);
                }
                sum
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

fn prodcons(threads: usize, ops: usize) -> u64 {
    let pairs = (threads / 2).max(1);
    let mut handles = Vec::new();
    for p in 0..pairs {
        let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8]>>>(4);
        handles.push(thread::spawn(move || {
            let mut state = p as u64 + 7;
            for _ in 0..ops / 64 {
                let batch: Vec<Box<[u8]>> = (0..64)
                    .map(|_| vec![1u8; 16 + (next(&mut state) as usize) % 1024].into_boxed_slice())
                    .collect();
                tx.send(batch).unwrap();
            }
            0u64
        }));
        handles.push(thread::spawn(move || {
            rx.iter().map(|b| b.len() as u64).sum()
        }));
    }
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

fn realloc_growth(threads: usize, ops: usize) -> u64 {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                let mut sum = 0u64;
                for i in 0..ops / 1000 {
                    let mut v: Vec<u64> = Vec::new();
                    let mut s = String::new();
                    for j in 0..1000 {
                        v.push(j);
                        s.push((b'a' + (j % 26) as u8) as char);
                    }
                    sum += v.len() as u64 + s.len() as u64 + i as u64;
                }
                sum
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// Zeroed allocations, as `vec![0u8; n]` makes them: calloc, whose
/// zeroing (of reused blocks) goes through libc's memset.
fn zeroed_churn(threads: usize, ops: usize, min: usize, max: usize) -> u64 {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut slots: Vec<Vec<u8>> = (0..256).map(|_| Vec::new()).collect();
                let mut sum = 0u64;
                for i in 0..ops {
                    let size = min + (next(&mut state) as usize) % (max - min + 1);
                    let mut block = vec![0u8; size];
                    block[size / 2] = i as u8;
                    sum += block[size - 1] as u64 + block.len() as u64;
                    let slot = (next(&mut state) as usize) % slots.len();
                    slots[slot] = block;
                }
                sum
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

mod libc_string {
    use std::ffi::{c_char, c_int, c_void};
    unsafe extern "C" {
        pub fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
        pub fn memmove(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
        pub fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void;
        pub fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
        pub fn strlen(s: *const c_char) -> usize;
        pub fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void;
    }
}

/// libc's `function` called on `size` bytes, `total / size` times: direct
/// calls (not Rust's inlined copies), pointers through `black_box` so the
/// compiler knows neither size nor contents.
///
/// Each function gets its own loop, so a row times the call and not the
/// choice of function. Both buffers sit at fixed offsets from a page
/// boundary (a at 0, b at 2048: cache-line aligned, and apart in the low
/// 12 bits, where loads and stores would alias), the same for every
/// variant: otherwise each allocator would pick its own alignment and the
/// rows would compare allocators as much as string functions.
fn string_function(function: &str, size: usize, total: usize) -> u64 {
    use libc_string as c;
    const PAGE: usize = 4096;
    let calls = (total / size).max(1);
    // Room for memmove's overlapping shift and strlen's terminator.
    let span = (size + 64).next_multiple_of(PAGE) + PAGE;
    let mut buffer = vec![7u8; 2 * span + PAGE];
    let start = buffer.as_ptr().align_offset(PAGE);
    let (a, b) = buffer[start..].split_at_mut(span);
    let (a, b) = (&mut a[..size + 64], &mut b[PAGE / 2..PAGE / 2 + size + 64]);
    a[size] = 0;
    let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
    // SAFETY (every call below): both buffers hold size + 64 bytes, and
    // every call stays inside them.
    let sum = match function {
        "memcpy" => repeat(calls, |_| unsafe {
            c::memcpy(black_box(pb).cast(), black_box(pa).cast(), size) as usize as u64 & 1
        }),
        // Overlapping, destination above the source (Vec::insert).
        "memmove" => repeat(calls, |_| unsafe {
            let pa = black_box(pa);
            c::memmove(pa.add(8).cast(), pa.cast(), size) as usize as u64 & 1
        }),
        "memset" => repeat(calls, |i| unsafe {
            c::memset(black_box(pb).cast(), (i & 0x7f) as i32, size) as usize as u64 & 1
        }),
        // Equal buffers: the whole length is compared.
        "memcmp" => repeat(calls, |_| unsafe {
            c::memcmp(black_box(pa).cast(), black_box(pb).cast(), size) as u64
        }),
        "strlen" => repeat(calls, |_| unsafe { c::strlen(black_box(pa).cast()) as u64 }),
        // An absent byte: the whole length is searched.
        "memchr" => repeat(calls, |_| unsafe {
            c::memchr(black_box(pb).cast(), 1, size) as usize as u64
        }),
        _ => usage(),
    };
    sum + a[size / 2] as u64 + b[size / 2] as u64
}

/// The sum of `call(i)` for i in 0..calls.
#[inline(always)]
fn repeat(calls: usize, mut call: impl FnMut(usize) -> u64) -> u64 {
    (0..calls).fold(0, |sum, i| sum.wrapping_add(call(i)))
}

/// A generated JSON corpus, parsed and re-serialised in parallel.
fn json(threads: usize, docs: usize) -> u64 {
    use rayon::prelude::*;
    let corpus: Vec<String> = (0..docs)
        .map(|i| {
            let items: Vec<String> = (0..20)
                .map(|j| {
                    format!(
                        r#"{{"id":{j},"name":"item-{i}-{j}","tags":["a","b","c"],"price":{}.5}}"#,
                        i * j % 97
                    )
                })
                .collect();
            format!(
                r#"{{"doc":{i},"items":[{}],"meta":{{"source":"bench","ok":true}}}}"#,
                items.join(",")
            )
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        corpus
            .par_iter()
            .map(|text| {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                serde_json::to_string(&value).unwrap().len() as u64
            })
            .sum()
    })
}

/// zstd compression in parallel: its C code allocates its contexts and
/// buffers with malloc, which `#[global_allocator]` does not reach.
fn zstd_parallel(threads: usize, buffers: usize) -> u64 {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut state = t as u64 + 11;
                let mut sum = 0u64;
                for _ in 0..buffers / threads.max(1) {
                    let len = 4096 + (next(&mut state) as usize) % 60_000;
                    let input: Vec<u8> = (0..len).map(|i| (i % 61) as u8 ^ (state as u8)).collect();
                    let packed = zstd::bulk::compress(&input, 3).unwrap();
                    sum += packed.len() as u64;
                }
                sum
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sum = match args.get(1).map(String::as_str) {
        Some("churn") => churn(arg(&args, 2), arg(&args, 3), arg(&args, 4), arg(&args, 5)),
        Some("prodcons") => prodcons(arg(&args, 2), arg(&args, 3)),
        Some("realloc") => realloc_growth(arg(&args, 2), arg(&args, 3)),
        Some("zchurn") => zeroed_churn(arg(&args, 2), arg(&args, 3), arg(&args, 4), arg(&args, 5)),
        Some("string") => {
            let function = args.get(2).unwrap_or_else(|| usage());
            string_function(function, arg(&args, 3), arg(&args, 4))
        }
        Some("json") => json(arg(&args, 2), arg(&args, 3)),
        Some("zstd") => zstd_parallel(arg(&args, 2), arg(&args, 3)),
        Some("idle") => {
            let samples: Vec<u64> = (4..args.len()).map(|i| arg(&args, i) as u64).collect();
            memory::idle(arg(&args, 2), arg(&args, 3), &samples)
        }
        Some("fresh") => memory::fresh(arg(&args, 2), arg(&args, 3)),
        Some("phases") => memory::phases(arg(&args, 2), arg(&args, 3), arg(&args, 4)),
        Some("serve") => http::serve(arg(&args, 2)),
        Some("load") => {
            let addr = args.get(2).unwrap_or_else(|| usage());
            http::load(addr, arg(&args, 3), arg(&args, 4))
        }
        _ => usage(),
    };
    println!("{sum}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
        let kib = line.split_whitespace().nth(1).unwrap_or("0");
        eprintln!("peak_rss_kib={kib}");
    }
}
