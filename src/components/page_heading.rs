use leptos::html::H1;
use leptos::prelude::*;

/// The page's `<h1>`: it names the page in `document.title` and takes focus when the page is shown, so that a
/// screen reader announces where a navigation led and the keyboard starts from the top of the new page.
#[component]
pub fn PageHeading(title: &'static str) -> impl IntoView {
    let heading = NodeRef::<H1>::new();
    document().set_title(&[title, " · Session"].concat());
    Effect::new(move || {
        if let Some(heading) = heading.get() {
            let _ = heading.focus();
        }
    });
    view! { <h1 tabindex="-1" node_ref=heading>{title}</h1> }
}
