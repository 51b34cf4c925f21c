use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::PageHeading;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <section class="card">
            <PageHeading title="Page not found"/>
            <p>"There is no such page."</p>
            <A href=crate::start_path()>"Go to the start"</A>
        </section>
    }
    .into_any()
}
