use std::cell::RefCell;
use std::future::Future;

use futures::future::{AbortHandle, abortable};

/// The requests a page started; dropping it (when the page unmounts) aborts those still running, and with them
/// their fetches.
#[derive(Default)]
pub struct PageRequests(RefCell<Vec<AbortHandle>>);

impl PageRequests {
    /// `None` when the page went away first.
    pub fn run<F: Future>(&self, request: F) -> impl Future<Output = Option<F::Output>> + use<F> {
        let (request, handle) = abortable(request);
        let mut handles = self.0.borrow_mut();
        handles.retain(|handle| !handle.is_aborted());
        handles.push(handle.clone());
        async move {
            let outcome = request.await.ok();
            // Finished: aborting now changes nothing but lets the next `run` drop the handle.
            handle.abort();
            outcome
        }
    }
}

impl Drop for PageRequests {
    fn drop(&mut self) {
        for handle in self.0.borrow().iter() {
            handle.abort();
        }
    }
}
