//! The deadlines of the requests in flight, checked by one interval that runs only while there are some. A timer
//! per request (ours or `AbortSignal.timeout`) costs more than all the rest of the client together.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::{IntervalHandle, set_interval_with_handle};
use web_sys::{AbortController, AbortSignal};

use crate::browser::monotonic_ms;

const CHECK_EVERY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Deadlines {
    in_flight: RefCell<Vec<InFlight>>,
    next_id: Cell<u64>,
    interval: Cell<Option<IntervalHandle>>,
}

struct InFlight {
    id: u64,
    deadline_ms: f64,
    controller: AbortController,
    timed_out: Rc<Cell<bool>>,
}

impl Deadlines {
    /// An abort controller that fires `timeout_ms` from now, or when the returned value is dropped unfinished.
    pub fn track(self: &Rc<Self>, timeout_ms: u32) -> Option<AbortOnDrop> {
        let controller = AbortController::new().ok()?;
        let (id, timed_out) = (self.next_id.get(), Rc::new(Cell::new(false)));
        self.next_id.set(id + 1);
        self.in_flight.borrow_mut().push(InFlight {
            id,
            deadline_ms: monotonic_ms() + f64::from(timeout_ms),
            controller: controller.clone(),
            timed_out: Rc::clone(&timed_out),
        });
        if self.interval.get().is_none() {
            let deadlines = Rc::downgrade(self);
            let check = move || {
                if let Some(deadlines) = deadlines.upgrade() {
                    deadlines.abort_overdue();
                }
            };
            self.interval.set(set_interval_with_handle(check, CHECK_EVERY).ok());
        }
        Some(AbortOnDrop { controller, id, deadlines: Rc::clone(self), timed_out, finished: Cell::new(false) })
    }

    fn forget(&self, id: u64) {
        self.in_flight.borrow_mut().retain(|request| request.id != id);
    }

    fn abort_overdue(&self) {
        let now = monotonic_ms();
        let overdue: Vec<InFlight> = {
            let mut in_flight = self.in_flight.borrow_mut();
            let (overdue, waiting) = in_flight.drain(..).partition(|request| request.deadline_ms <= now);
            *in_flight = waiting;
            overdue
        };
        for request in overdue {
            request.timed_out.set(true);
            request.controller.abort();
        }
        if self.in_flight.borrow().is_empty()
            && let Some(interval) = self.interval.take()
        {
            interval.clear();
        }
    }
}

/// A fetch's abort controller: fired when its deadline passes, or by dropping an unfinished request (a page that
/// unmounts).
pub struct AbortOnDrop {
    controller: AbortController,
    id: u64,
    deadlines: Rc<Deadlines>,
    timed_out: Rc<Cell<bool>>,
    finished: Cell<bool>,
}

impl AbortOnDrop {
    pub fn signal(&self) -> AbortSignal {
        self.controller.signal()
    }

    /// Whether the deadline fired the abort.
    pub fn timed_out(&self) -> bool {
        self.timed_out.get()
    }

    /// The answer is complete: dropping no longer aborts.
    pub fn finish(&self) {
        self.finished.set(true);
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.deadlines.forget(self.id);
        if !self.finished.get() {
            self.controller.abort();
        }
    }
}
