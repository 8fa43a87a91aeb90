//! The memory workloads: what an allocator keeps after a burst, what a
//! burst into fresh memory costs, and phases of bursts for the run under a
//! cgroup memory limit.
//!
//! A burst is `mb` megabytes (10^6 bytes) of live blocks in mixed sizes,
//! split evenly over the threads and, within a thread, evenly by bytes over
//! four size bands (16–256 B, 256 B–8 KiB, 8–128 KiB, 128 KiB–1 MiB), so
//! that small blocks are as much of the burst as large ones. Every page of
//! every block is written, so resident memory is what the allocator made
//! resident and not which pages the program happened to touch.

use std::{
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use super::next;

/// The size bands of a burst, by bytes in equal shares.
const BANDS: [(usize, usize); 4] = [
    (16, 256),
    (256, 8 << 10),
    (8 << 10, 128 << 10),
    (128 << 10, 1 << 20),
];

/// The process's resident memory now, in KiB: `Rss` of
/// /proc/self/smaps_rollup (anonymous, file and shared pages alike, as a
/// cgroup or `ps` would count them), 0 where the kernel has no such file.
pub fn rss_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Rss:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One thread's share of a burst: `bytes` in blocks of the four bands,
/// interleaved, each block with every page written; the bands take equal
/// shares of the bytes, or `heavy` takes five eighths and the others one
/// each. `zeroed` allocates with calloc (`vec![0; n]`) and checks that each
/// page it writes was zero. (A write, not a read: reading untouched memory
/// maps the kernel's shared zero page, which is not resident memory.)
fn burst_blocks(bytes: usize, seed: u64, zeroed: bool, heavy: Option<usize>) -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64 ^ seed;
    let share = |band: usize| match heavy {
        None => bytes / BANDS.len(),
        Some(h) if h == band => bytes / 8 * 5,
        Some(_) => bytes / 8,
    };
    let mut made = [0usize; 4];
    let mut blocks = Vec::new();
    while (0..BANDS.len()).any(|band| made[band] < share(band)) {
        for (band, &(min, max)) in BANDS.iter().enumerate() {
            if made[band] >= share(band) {
                continue;
            }
            let size = min + (next(&mut state) as usize) % (max - min);
            let block = if zeroed {
                let mut block = vec![0u8; size];
                for page in block.iter_mut().step_by(4096) {
                    assert_eq!(*page, 0, "calloc returned memory that is not zero");
                    *page = seed as u8;
                }
                block
            } else {
                let mut block = Vec::<u8>::with_capacity(size);
                for page in block.spare_capacity_mut().iter_mut().step_by(4096) {
                    page.write(seed as u8);
                }
                block
            };
            made[band] += size;
            blocks.push(std::hint::black_box(block));
        }
    }
    blocks
}

/// `idle THREADS MB SAMPLE_MS…`: each thread allocates its share of an
/// MB burst, then all free everything at once and stay alive (a server's
/// worker pool between requests) while the main thread sleeps and samples
/// its RSS at each SAMPLE_MS after the last free. Prints `burst_s=`,
/// `rss_burst_kib=` (resident with the burst live) and
/// `rss_idle_<ms>ms_kib=` per sample on stderr.
pub fn idle(threads: usize, mb: usize, samples_ms: &[u64]) -> u64 {
    let allocated = Arc::new(Barrier::new(threads + 1));
    let free = Arc::new(Barrier::new(threads + 1));
    let freed = Arc::new(Barrier::new(threads + 1));
    let done = Arc::new(Barrier::new(threads + 1));
    let share = mb * 1_000_000 / threads;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let barriers = [&allocated, &free, &freed, &done].map(|b| Arc::clone(b));
            thread::spawn(move || {
                let blocks = burst_blocks(share, t as u64 + 1, false, None);
                let count = blocks.len() as u64;
                barriers[0].wait();
                barriers[1].wait();
                drop(blocks);
                barriers[2].wait();
                // Idle until the samples are taken, as a pooled worker is.
                barriers[3].wait();
                count
            })
        })
        .collect();
    allocated.wait();
    let burst_s = started.elapsed().as_secs_f64();
    let rss_burst = rss_kib();
    free.wait();
    freed.wait();
    let idle_since = Instant::now();
    let mut report = format!("burst_s={burst_s:.4} rss_burst_kib={rss_burst}");
    for &ms in samples_ms {
        let at = idle_since + Duration::from_millis(ms);
        thread::sleep(at.saturating_duration_since(Instant::now()));
        report += &format!(" rss_idle_{ms}ms_kib={}", rss_kib());
    }
    eprintln!("{report}");
    done.wait();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// `fresh THREADS MB`: a burst into memory no block has used before:
/// every thread allocates its share of MB zeroed (calloc) and keeps it all,
/// so every page is a first fault. What it times is the allocator's fresh
/// path and the kernel's first faults (huge pages included, where the
/// allocator asks for them), not reuse.
pub fn fresh(threads: usize, mb: usize) -> u64 {
    let share = mb * 1_000_000 / threads;
    let workers: Vec<_> = (0..threads)
        .map(|t| thread::spawn(move || burst_blocks(share, t as u64 + 1, true, None).len() as u64))
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// `phases THREADS MB ROUNDS`: ROUNDS bursts of MB, everything freed
/// between them, each round with most of its bytes in another size band
/// (and every other round zeroed), so memory one size class held must
/// serve another: what a program under a memory limit does between
/// requests of different kinds. Prints the largest RSS seen at a burst's
/// peak as `rss_burst_kib=`.
pub fn phases(threads: usize, mb: usize, rounds: usize) -> u64 {
    let share = mb * 1_000_000 / threads;
    let mut peak = 0;
    let mut sum = 0;
    for round in 0..rounds {
        let live = Arc::new(Barrier::new(threads + 1));
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let live = Arc::clone(&live);
                let seed = (round * threads + t) as u64 + 1;
                thread::spawn(move || {
                    let blocks = burst_blocks(share, seed, round % 2 == 1, Some(round % BANDS.len()));
                    live.wait();
                    live.wait();
                    blocks.len() as u64
                })
            })
            .collect();
        live.wait();
        peak = peak.max(rss_kib());
        live.wait();
        sum += workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>();
    }
    eprintln!("rss_burst_kib={peak}");
    sum
}
