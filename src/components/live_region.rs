use leptos::prelude::*;

/// How a screen reader announces what is put into a [`LiveRegion`].
#[derive(Clone, Copy)]
pub enum Announce {
    /// At once, interrupting (`role="alert"`): errors and the end of the session.
    Now,
    /// When the reader is idle (`role="status"`): states such as offline.
    Politely,
}

/// A region screen readers watch from the moment it is in the page, so a notice inserted into it later is
/// announced; one inserted together with its region often is not. Every notice of the app lives in one.
#[component]
pub fn LiveRegion<C: IntoView + 'static>(announce: Announce, children: TypedChildren<C>) -> impl IntoView {
    let role = match announce {
        Announce::Now => "alert",
        Announce::Politely => "status",
    };
    view! { <div class="live-region" role=role>{children.into_inner()()}</div> }
}
