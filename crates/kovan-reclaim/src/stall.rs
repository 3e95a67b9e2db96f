//! Test-only stall injection: named protocol steps at which a test can park the current thread.
//!
//! Compiled only with the `stall` feature; without it every stall point is an empty inline function.

/// A named step of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A protected load's round read the era clock and has not published what it read.
    ProtectEraRead,
    /// A protected load published a new era and fenced, and has not reloaded the pointer yet.
    ProtectPublished,
    /// A protected load escalated (published the infinite era) and has not reloaded yet.
    ProtectEscalated,
    /// Placing a batch assigned a node to every eligible reservation and has not inserted any.
    PlaceScanned,
    /// Placing a batch swapped a node into a reservation's list and has not linked the old
    /// list behind it.
    PlaceInserted,
    /// Thread exit deactivated its reservation and has not placed its batch yet.
    ExitDeactivated,
}

#[cfg(feature = "stall")]
mod hook {
    use super::Step;
    use std::boxed::Box;
    use std::cell::RefCell;

    type Hook = Box<dyn FnMut(Step)>;

    std::thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Installs `hook` for the current thread; it runs at every stall point the thread reaches.
    pub fn set_hook(hook: impl FnMut(Step) + 'static) {
        let previous = HOOK.with(|slot| slot.borrow_mut().replace(Box::new(hook)));
        // Dropped outside the borrow: a hook may own handles whose drop reaches a stall point.
        drop(previous);
    }

    /// Removes the current thread's hook.
    pub fn clear_hook() {
        let previous = HOOK.with(|slot| slot.borrow_mut().take());
        // Dropped outside the borrow, as in `set_hook`.
        drop(previous);
    }

    pub(crate) fn point(step: Step) {
        let taken = HOOK
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten();
        if let Some(mut hook) = taken {
            hook(step);
            let _ = HOOK.try_with(|slot| {
                let mut slot = slot.borrow_mut();
                if slot.is_none() {
                    *slot = Some(hook);
                }
            });
        }
    }
}

#[cfg(feature = "stall")]
pub use hook::{clear_hook, set_hook};

/// Runs the current thread's hook, if any, for `step`.
#[inline(always)]
pub(crate) fn point(step: Step) {
    #[cfg(feature = "stall")]
    hook::point(step);
    #[cfg(not(feature = "stall"))]
    let _ = step;
}
