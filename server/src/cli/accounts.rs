//! `session-server user add | set-password`: accounts, with the password read from standard input.

use std::io::BufRead;
use std::path::PathBuf;

use super::UserCommand;
use crate::clock::{Clock, SystemClock};
use crate::{NewUser, Store, add_user, set_password};

pub(super) async fn run(data_dir: PathBuf, database_url: Option<String>, command: UserCommand) -> Result<(), String> {
    let store = match database_url {
        Some(url) => Store::connect(&url).await,
        None => {
            std::fs::create_dir_all(&data_dir)
                .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
            Store::open(&data_dir.join("sessions.db")).await
        }
    };
    let store = store.map_err(|error| error.to_string())?;
    let password = read_password()?;
    // On PostgreSQL, dated by the database's clock, as the server dates (see `DatabaseTime`).
    let database_now = store.read_database_clock().await.map_err(|error| error.to_string())?;
    let now = database_now.map_or_else(|| SystemClock.now(), |reading| reading.database_ms.div_euclid(1_000));
    match command {
        UserCommand::Add { username, display_name, email } => {
            let display_name = display_name.unwrap_or_else(|| username.clone());
            let user = NewUser { username: &username, password: &password, display_name: &display_name, email: &email };
            add_user(&store, user, now).await.map_err(|error| error.to_string())?;
            println!("Created user {username}");
        }
        UserCommand::SetPassword { username } => {
            set_password(&store, &username, &password, now).await.map_err(|error| error.to_string())?;
            println!("Changed the password of {username} and revoked all their sessions");
        }
    }
    Ok(())
}

fn read_password() -> Result<String, String> {
    eprintln!("Password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|error| error.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
