//! A tour of the API: pin, load, publish, retire, flush; then the 0.1.12 style with a
//! hand-built header; then `Atom`.
//!
//! Run with `cargo run -p kovan --example walkthrough`.

use kovan::{Atom, Atomic, NodeBox, Ordering, RetiredNode, Shared, pin};

/// A hand-built node in the kovan 0.1.12 style: `#[repr(C)]`, header first.
#[repr(C)]
struct Legacy {
    header: RetiredNode,
    name: &'static str,
}

fn main() {
    // 1. Typed nodes: the header and the birth era are the allocation's business.
    let cell = Atomic::from(NodeBox::new(1_u64));
    {
        let guard = pin();
        // Acquire: pairs with the Release of whoever published the node.
        let seen = cell.load(Ordering::Acquire, &guard);
        // SAFETY: loaded under `guard` from a live cell.
        println!("loaded {}", unsafe { seen.deref() }.value());

        // Replace the value; readers that loaded the old one keep it until their guards drop.
        // AcqRel: Release publishes the new node, Acquire lets us read the old one.
        let old = cell.swap(
            NodeBox::new(2).into_shared(&guard),
            Ordering::AcqRel,
            &guard,
        );
        // SAFETY: unlinked by the swap above, retired once.
        unsafe { old.retire(&guard) };

        // compare_exchange reports a protected pointer when it fails.
        let stale = seen;
        let attempt = NodeBox::new(3).into_shared(&guard);
        // AcqRel / Acquire: as for the swap; the failure value is read below.
        match cell.compare_exchange(stale, attempt, Ordering::AcqRel, Ordering::Acquire, &guard) {
            Ok(_) => unreachable!("the cell moved on"),
            Err(current) => {
                // SAFETY: `current` was validated under `guard`.
                let value = unsafe { current.deref() }.value();
                println!("exchange failed, cell holds {value}");
                // SAFETY: `attempt` was never published.
                drop(unsafe { NodeBox::from_raw(attempt.as_raw()) });
            }
        }
        // AcqRel: as above (storing null publishes nothing, but the old node is read).
        let last = cell.swap(Shared::null(), Ordering::AcqRel, &guard);
        // SAFETY: unlinked above, retired once.
        unsafe { last.retire(&guard) };
    }

    // 2. The 0.1.12 style: any `#[repr(C)]` type whose first field is a `RetiredNode`.
    let legacy: Atomic<Legacy> = Atomic::new(Box::into_raw(Box::new(Legacy {
        header: RetiredNode::new(),
        name: "legacy node",
    })));
    {
        let guard = pin();
        // Acquire: pairs with the Release of whoever published the node.
        let node = legacy.load(Ordering::Acquire, &guard);
        // SAFETY: loaded under `guard`; non-null.
        println!("loaded {}", unsafe { node.deref() }.name);
        // AcqRel: as above.
        let unlinked = legacy.swap(Shared::null(), Ordering::AcqRel, &guard);
        // SAFETY: repr(C), header first, Box-allocated, unlinked above, retired once.
        unsafe { kovan::retire(unlinked.as_raw()) };
    }

    // 3. `Atom`: the same machinery behind a safe API.
    let greeting = Atom::new(String::from("hello"));
    let before = greeting.load();
    greeting.store(String::from("hello again"));
    println!(
        "a guard still sees {:?}; a new load sees {:?}",
        *before,
        *greeting.load()
    );
    drop(before);
    greeting.rcu(|s| s.to_uppercase());
    println!("after rcu: {}", greeting.load());

    // Push this thread's garbage through now rather than at the next batch.
    kovan::flush();
    println!("era is now {}", kovan::default_domain().era());
}
