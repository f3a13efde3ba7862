//! Which processes belong to a launched app once its launcher is not the whole story.
//!
//! An app is started in its own process group, but launchers do not stay there: a launcher script
//! may start the game in the background and exit, and a store client hands the game to a copy of
//! itself that already runs (`steam steam://rungameid/570` passes the request to the running Steam
//! and exits at once; the game then starts as Steam's child, outside the app's group and with
//! Steam's environment, not ours). The host follows both by what the processes carry in their
//! environment:
//! - every app gets [`TOKEN_VAR`]`=<random token>`; whatever it starts inherits it;
//! - a Steam launch (`steam://rungameid/<id>` in the command) is followed by `SteamAppId=<id>`, which
//!   Steam sets for every process of the game it starts.
//!
//! Only the host user's own processes can be read, and only they are followed.

use rustix::process::Pid;
use std::path::Path;

/// The variable that marks every process an app started.
pub const TOKEN_VAR: &str = "PUNKTFUNK_APP";

/// How to recognise one app's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    token: String,
    /// `SteamAppId` of a game Steam starts on the launcher's behalf.
    steam_app: Option<String>,
}

impl Followed {
    /// For an app started with shell command `cmd`.
    pub fn for_command(cmd: &str) -> Followed {
        Followed {
            token: punktfunk_core::hex::encode(&rand::random::<[u8; 12]>()),
            steam_app: steam_app_id(cmd),
        }
    }

    /// What the app is started with: `(TOKEN_VAR, token)`.
    pub fn env(&self) -> (&'static str, &str) {
        (TOKEN_VAR, &self.token)
    }

    /// Whether the launcher hands the game to a store client that runs it outside the app's tree:
    /// then the game's own processes, not the launcher, say whether the app runs.
    pub fn hands_off(&self) -> bool {
        self.steam_app.is_some()
    }

    /// Whether a process with environment block `environ` (`NAME=value` entries, NUL-separated)
    /// belongs to the app.
    pub fn carried_by(&self, environ: &[u8]) -> bool {
        environ.split(|&b| b == 0).any(|entry| {
            let Some(eq) = entry.iter().position(|&b| b == b'=') else {
                return false;
            };
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            match &self.steam_app {
                // Steam itself may carry the token (when this launch started it): only the game
                // counts.
                Some(app) => name == b"SteamAppId" && value == app.as_bytes(),
                None => name == TOKEN_VAR.as_bytes() && value == self.token.as_bytes(),
            }
        })
    }

    /// The running processes that belong to the app (this process excluded).
    pub fn processes(&self) -> Vec<Pid> {
        processes_in(Path::new("/proc"), self)
    }
}

fn processes_in(proc_root: &Path, followed: &Followed) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            // Another user's process, or one that has just gone: not ours to follow.
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            if !followed.carried_by(&environ) {
                return None;
            }
            Pid::from_raw(i32::try_from(pid).ok()?)
        })
        .collect()
}

/// The Steam app id a command launches through Steam, if it does.
fn steam_app_id(cmd: &str) -> Option<String> {
    ["steam://rungameid/", "steam://run/"]
        .iter()
        .find_map(|prefix| {
            let at = cmd.find(prefix)? + prefix.len();
            let digits: String = cmd[at..].chars().take_while(char::is_ascii_digit).collect();
            (!digits.is_empty()).then_some(digits)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn steam_launches_are_recognised_by_their_app_id() {
        assert_eq!(
            steam_app_id("steam steam://rungameid/570").as_deref(),
            Some("570")
        );
        assert_eq!(
            steam_app_id("flatpak run com.valvesoftware.Steam 'steam://run/620'").as_deref(),
            Some("620")
        );
        assert_eq!(steam_app_id("steam steam://rungameid/"), None);
        assert_eq!(steam_app_id("heroic heroic://launch/gog/1"), None);
        assert!(Followed::for_command("steam steam://rungameid/570").hands_off());
        assert!(!Followed::for_command("supertuxkart").hands_off());
    }

    #[test]
    fn a_process_belongs_to_the_app_by_its_token_or_the_steam_game_id() {
        let plain = Followed::for_command("kart");
        let (name, token) = plain.env();
        let ours = format!("HOME=/h\0{name}={token}\0PATH=/bin\0");
        assert!(plain.carried_by(ours.as_bytes()));
        assert!(!plain.carried_by(format!("{name}=other\0").as_bytes()));
        assert!(!plain.carried_by(format!("X{name}={token}\0").as_bytes()));
        assert!(!plain.carried_by(b""));

        let steam = Followed::for_command("steam steam://rungameid/570");
        assert!(steam.carried_by(b"SteamAppId=570\0SteamGameId=570\0"));
        assert!(!steam.carried_by(b"SteamAppId=5700\0"));
        let (name, token) = steam.env();
        assert!(
            !steam.carried_by(format!("{name}={token}\0").as_bytes()),
            "the Steam client this launch started carries the token but is not the game"
        );
    }

    #[test]
    fn the_processes_are_found_in_proc() {
        let followed = Followed::for_command("sleep");
        let (name, token) = followed.env();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(name, token)
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // The environment is readable once the child has exec'd.
        while !followed.processes().contains(&pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the child was not found"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(followed.processes(), [pid]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(followed.processes().is_empty());
        assert!(Followed::for_command("sleep").processes().is_empty());
    }

    proptest! {
        #[test]
        fn any_environment_block_is_read_without_panicking(environ in proptest::collection::vec(any::<u8>(), 0..512), cmd in ".{0,64}") {
            let followed = Followed::for_command(&cmd);
            let _ = followed.carried_by(&environ);
        }
    }
}
