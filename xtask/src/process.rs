//! Running programs (plain, or captured while still shown), and finding them, their ports and their builds.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

pub fn command(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace_root());
    command
}

pub fn status(mut command: Command) -> Result<(), String> {
    let description = format!("{command:?}");
    let status = command.status().map_err(|error| format!("cannot run {description}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("{description} failed ({status})")) }
}

/// The server binary cargo built with `profile` ("debug", "release"), wherever `CARGO_TARGET_DIR` puts it.
pub fn built_server(profile: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    workspace_root().join(target).join(profile).join("session-server")
}

/// A suite that could not start, with the reason shown where its output would have been.
pub fn not_run(reason: String) -> (bool, String) {
    println!("xtask: {reason}");
    (false, reason)
}

/// Runs the command, echoing its output as it comes, and returns whether it succeeded and everything it printed.
pub fn captured(mut command: Command) -> (bool, String) {
    println!("\n$ {}", describe(&command));
    let mut child = match command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(error) => return not_run(format!("cannot start {}: {error}", describe(&command))),
    };
    let (sender, lines) = mpsc::channel();
    let readers: Vec<_> = [
        child.stdout.take().map(|out| Box::new(out) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|err| Box::new(err) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let sender = sender.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        })
    })
    .collect();
    drop(sender);
    let mut output = String::new();
    for line in lines {
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
    }
    readers.into_iter().for_each(|reader| drop(reader.join()));
    let success = child.wait().is_ok_and(|status| status.success());
    (success, output)
}

fn describe(command: &Command) -> String {
    let args: Vec<_> = command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
    format!("{} {}", command.get_program().to_string_lossy(), args.join(" "))
}

/// `trunk build --release` of the trunk project in `project` (the app: the workspace root); its `dist/`.
pub fn trunk_release_build(project: &Path) -> Result<PathBuf, String> {
    let mut trunk = command("trunk", &["build", "--release"]);
    trunk.current_dir(project);
    status(trunk)?;
    Ok(project.join("dist"))
}

/// Ends the child when dropped, so Ctrl-C or an error never leaves a server behind.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `program`'s full path on PATH, or its bare name (the child then fails to start and says so).
pub fn which(program: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| Path::is_file(candidate))
        })
        .map_or_else(|| program.to_owned(), |path| path.to_string_lossy().into_owned())
}

/// A loopback port nobody listens on now.
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    Ok(listener.local_addr().map_err(|error| error.to_string())?.port())
}

/// Waits up to ten seconds for something to listen on `port`.
pub fn wait_for_port(port: u16) -> Result<(), String> {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("the server did not listen on port {port}"))
}

/// The workspace root, whatever directory cargo was started from.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}
