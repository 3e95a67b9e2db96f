//! A service whose workers read the current configuration on every request while an admin
//! thread reloads it: `Atom` gives readers a consistent snapshot without locks.
//!
//! Run with `cargo run -p kovan --example config_reload`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use kovan::Atom;

#[derive(Clone, Debug)]
struct Config {
    version: u64,
    routes: HashMap<String, String>,
    limits: Limits,
}

#[derive(Clone, Debug, PartialEq)]
struct Limits {
    max_body: usize,
    timeout_ms: u64,
}

impl Config {
    fn load(version: u64) -> Self {
        let routes = (0..8)
            .map(|i| (format!("/svc/{i}"), format!("backend-{}.v{version}", i % 3)))
            .collect();
        let limits = Limits {
            max_body: 1024 * (1 + version as usize % 4),
            timeout_ms: 100 + version,
        };
        Self {
            version,
            routes,
            limits,
        }
    }
}

struct Service {
    config: Atom<Config>,
    /// Requests served.
    served: AtomicU64,
    stop: AtomicBool,
}

impl Service {
    /// One request: the whole handler sees one configuration, however many reloads happen.
    fn handle(&self, path: &str) -> String {
        let config = self.config.load();
        let backend = config
            .routes
            .get(path)
            .cloned()
            .unwrap_or_else(|| "404".into());
        assert!(backend == "404" || backend.ends_with(&format!(".v{}", config.version)));
        self.served.fetch_add(1, Ordering::Relaxed); // Relaxed: a statistic.
        format!(
            "{path} -> {backend} (v{}, timeout {} ms)",
            config.version, config.limits.timeout_ms
        )
    }
}

fn main() {
    let service = Arc::new(Service {
        config: Atom::new(Config::load(1)),
        served: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });

    // Components that only need part of the configuration get a projection.
    let limits = service.config.map(|c| &c.limits);
    println!("starting with {:?}", *limits.load());

    let workers: Vec<_> = (0..3)
        .map(|w| {
            let service = Arc::clone(&service);
            thread::spawn(move || {
                let mut last = String::new();
                let mut i = 0;
                // Relaxed: a stop flag; nothing is handed over through it.
                while !service.stop.load(Ordering::Relaxed) {
                    last = service.handle(&format!("/svc/{}", (i + w) % 10));
                    i += 1;
                }
                last
            })
        })
        .collect();

    // The admin side: full reloads, and one in-place edit via read-copy-update.
    for version in 2..=20 {
        service.config.store(Config::load(version));
        thread::sleep(Duration::from_millis(2));
    }
    service.config.rcu(|c| {
        let mut next = c.clone();
        next.version += 1;
        next.limits.timeout_ms *= 2;
        next.routes = next
            .routes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.replace(&format!(".v{}", c.version), &format!(".v{}", next.version)),
                )
            })
            .collect();
        next
    });

    service.stop.store(true, Ordering::Relaxed); // Relaxed: see the workers' loop.
    for worker in workers {
        println!("last answer: {}", worker.join().unwrap());
    }
    let current = service.config.load();
    println!(
        "served {} requests; now at v{} with {:?}",
        service.served.load(Ordering::Relaxed), // Relaxed: the workers were joined.
        current.version,
        current.limits
    );
    assert_eq!(current.version, 21);
}
