//! Who hears the client's [`SessionEvent`]s, and the handle that ends a subscription.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use crate::ports::SessionEvent;

type Listener = Rc<dyn Fn(SessionEvent)>;

/// The client's listeners, each under the id its [`Subscription`] removes.
#[derive(Default)]
pub(crate) struct Listeners {
    next_id: Cell<u64>,
    subscribed: RefCell<Vec<(u64, Listener)>>,
}

impl Listeners {
    pub(crate) fn subscribe(self: &Rc<Self>, listener: Listener) -> Subscription {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.subscribed.borrow_mut().push((id, listener));
        Subscription { listeners: Rc::downgrade(self), id }
    }

    /// Calls every listener subscribed now, in the order they subscribed. Listeners may call back into the
    /// client or subscribe and unsubscribe, so nothing is borrowed while one runs; one unsubscribed by an earlier
    /// one (its component unmounted by a navigation) is not called.
    pub(crate) fn emit(&self, event: SessionEvent) {
        let now: Vec<_> = self.subscribed.borrow().clone();
        for (id, listener) in now {
            if self.subscribed.borrow().iter().any(|(subscribed, _)| *subscribed == id) {
                listener(event);
            }
        }
    }
}

/// A listener's hold on the client's events: dropping it unsubscribes the listener. Keep it for as long as the
/// listener should hear (in Leptos, with the component's owner).
#[must_use = "the listener is unsubscribed when this is dropped"]
pub struct Subscription {
    listeners: Weak<Listeners>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.subscribed.borrow_mut().retain(|(id, _)| *id != self.id);
        }
    }
}
