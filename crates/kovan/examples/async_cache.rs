//! An async cache: request handlers look an entry up, hold it across a simulated I/O `.await`
//! (resuming, perhaps, on another worker thread) and then use it, while a refresher task
//! replaces entries and retires the old ones.
//!
//! A handler pins with `kovan::pin_owned()`: an `OwnedGuard` is `Send`, so the future that holds
//! it (and the entry loaded under it) can move between the runtime's threads. A plain
//! `kovan::pin()` guard is not `Send`: it suits the refresher, which drops it before awaiting.
//!
//! Run with `cargo run -p kovan --example async_cache`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as Counter};
use std::thread;
use std::time::{Duration, Instant};

use kovan::{Atomic, Node, NodeBox, Ordering, Shared, pin, pin_owned};

const KEYS: usize = 16;
const REQUESTS: usize = 10_000;
/// Requests in flight at once, like a server's connection limit.
const IN_FLIGHT: usize = 200;

/// A cached response body, rebuilt by the refresher.
struct Entry {
    key: usize,
    version: u64,
    body: String,
}

impl Entry {
    fn new(key: usize, version: u64) -> Self {
        Self {
            key,
            version,
            body: format!("key {key} v{version}"),
        }
    }
}

struct Cache {
    slots: Vec<Atomic<Node<Entry>>>,
    /// The latest version installed per key.
    versions: Vec<AtomicU64>,
}

impl Cache {
    fn new() -> Self {
        Self {
            slots: (0..KEYS)
                .map(|key| Atomic::from(NodeBox::new(Entry::new(key, 0))))
                .collect(),
            versions: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Installs a new version of `key` and retires the old entry: handlers that loaded it keep
    /// it until their guards drop.
    fn refresh(&self, key: usize) {
        let version = self.versions[key].fetch_add(1, Counter::Relaxed) + 1;
        let guard = pin();
        let fresh = NodeBox::new(Entry::new(key, version)).into_shared(&guard);
        // AcqRel: Release publishes the new entry, Acquire lets us retire the old one.
        let old = self.slots[key].swap(fresh, Ordering::AcqRel, &guard);
        // SAFETY: a default-domain node, unlinked by the swap, retired once.
        unsafe { old.retire(&guard) };
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let guard = pin();
        for slot in &self.slots {
            let last = slot.swap(Shared::null(), Ordering::AcqRel, &guard);
            // SAFETY: a default-domain node, unlinked by the swap, retired once.
            unsafe { last.retire(&guard) };
        }
    }
}

/// What a handler saw.
struct Served {
    /// The entry was replaced while the handler was awaiting (and was still intact).
    replaced_meanwhile: bool,
    /// The handler resumed on another worker thread.
    migrated: bool,
}

async fn handle(cache: Arc<Cache>, key: usize) -> Served {
    let guard = pin_owned().expect("thread ids left");
    // Acquire: pairs with the refresher's Release swap.
    let entry = cache.slots[key].load(Ordering::Acquire, &guard);
    // SAFETY: loaded under `guard` from a live slot (slots hold an entry until the cache drops,
    // after every handler), so it stays allocated while `guard` lives.
    let entry = unsafe { entry.deref() }.value();
    let thread = thread::current().id();

    // Simulated I/O (a database round trip, writing to a socket): the task is suspended and
    // may resume on another worker thread, with the guard and the entry.
    tokio::time::sleep(Duration::from_millis(1)).await;

    // Still the entry loaded above, intact, even if the refresher retired it meanwhile.
    assert_eq!(entry.key, key);
    assert_eq!(entry.body, format!("key {key} v{}", entry.version));
    Served {
        replaced_meanwhile: cache.versions[key].load(Counter::Relaxed) > entry.version,
        migrated: thread::current().id() != thread,
    }
}

async fn serve(cache: Arc<Cache>) {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    // The refresher rebuilds every entry each millisecond.
    let refresher = {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Counter::Relaxed) {
                for key in 0..KEYS {
                    cache.refresh(key);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };

    let (mut replaced, mut migrated) = (0, 0);
    for wave in 0..REQUESTS / IN_FLIGHT {
        let handlers: Vec<_> = (0..IN_FLIGHT)
            .map(|i| tokio::spawn(handle(Arc::clone(&cache), (wave * IN_FLIGHT + i) % KEYS)))
            .collect();
        for handler in handlers {
            let served = handler.await.expect("handler");
            replaced += usize::from(served.replaced_meanwhile);
            migrated += usize::from(served.migrated);
        }
    }
    stop.store(true, Counter::Relaxed);
    refresher.await.expect("refresher");

    let refreshes: u64 = cache
        .versions
        .iter()
        .map(|v| v.load(Counter::Relaxed))
        .sum();
    println!(
        "{REQUESTS} requests in {:?}: {replaced} used an entry that was replaced during their \
         I/O, {migrated} resumed on another worker thread; {refreshes} refreshes",
        started.elapsed()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .expect("runtime");
    let cache = Arc::new(Cache::new());
    runtime.block_on(serve(Arc::clone(&cache)));
    println!("while serving:  {}", kovan::stats());

    // Dropping the runtime joins its workers; each one's kovan handle hands over what it
    // retired as the thread exits. Then this thread retires the last entries and frees it all.
    drop(runtime);
    drop(cache);
    kovan::flush();
    println!("after shutdown: {}", kovan::stats());
}
