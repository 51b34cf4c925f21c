//! The floor under the app's size: each package of the design card doing its job once, and nothing more. Two
//! routes and a not-found page (leptos_router), a sign-in form posting JSON (gloo-net, serde), the token kept in
//! localStorage (gloo-storage), one `GET /user` decoded into a struct. No refresh, no query cache, no error
//! notices: less than the React original does, so what this weighs no build of the app can weigh less than.

use gloo_net::http::Request;
use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;
use leptos_router::components::{A, FlatRoutes, Route, Router};
use leptos_router::path;
use serde::{Deserialize, Serialize};

const TOKEN_KEY: &str = "accessToken";

#[derive(Serialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct User {
    name: String,
}

async fn sign_in(credentials: Credentials) -> Result<(), String> {
    let answer: TokenAnswer = async { Request::post("/auth/login").json(&credentials)?.send().await?.json().await }
        .await
        .map_err(|error: gloo_net::Error| error.to_string())?;
    LocalStorage::set(TOKEN_KEY, answer.access_token).map_err(|error| error.to_string())
}

async fn user_name() -> Result<String, String> {
    let token: String = LocalStorage::get(TOKEN_KEY).unwrap_or_default();
    let request = Request::get("/user").header("Authorization", &format!("Bearer {token}"));
    let user: User =
        async { request.send().await?.json().await }.await.map_err(|error: gloo_net::Error| error.to_string())?;
    Ok(user.name)
}

#[component]
fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = Action::new_local(move |(): &()| {
        sign_in(Credentials { username: username.get_untracked(), password: password.get_untracked() })
    });
    view! {
        <form on:submit=move |event| {
            event.prevent_default();
            submit.dispatch(());
        }>
            <input id="username" bind:value=username autocomplete="username" />
            <input bind:value=password type="password" autocomplete="current-password" />
            <button>"Sign in"</button>
            {move || submit.value().get().and_then(Result::err)}
        </form>
    }
}

#[component]
fn UserPage() -> impl IntoView {
    let name = LocalResource::new(user_name);
    view! {
        <Suspense fallback=|| "Loading">
            {move || name.get().map(|answer| answer.unwrap_or_else(|error| error))}
        </Suspense>
    }
}

fn main() {
    // As the app: the panic hook in debug builds only.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    mount_to_body(|| {
        view! {
            <Router>
                <nav>
                    <A href="/login">"Sign in"</A>
                    <A href="/user">"Your account"</A>
                </nav>
                <FlatRoutes fallback=|| "Page not found">
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/user") view=UserPage />
                </FlatRoutes>
            </Router>
        }
    });
}
