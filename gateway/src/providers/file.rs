//! The file provider: reads `providers.file.filename` or `.directory`, and with `watch`
//! reloads on every change of the file or of the directory's files.

use super::ProviderUpdate;
use control::decode::from_file_text;
use control::dynamic_decode::{decode_dynamic, merge_all, Decoded};
use control::static_config::FileProvider;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Provider name, as in `name@file`.
pub const NAME: &str = "file";

/// Quiet time after a file event before reading, so an editor's write-rename-chmod sequence
/// is read once, whole.
const SETTLE: Duration = Duration::from_millis(20);

/// Why the configuration could not be read at all (the previous one stays in force).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(String);

/// Reads the configured file or directory into one decoded configuration.
pub fn load(config: &FileProvider) -> Result<Decoded, LoadError> {
    if let Some(file) = &config.filename {
        return load_file(Path::new(file)).map(|(_, decoded)| decoded);
    }
    if let Some(directory) = &config.directory {
        return load_directory(Path::new(directory));
    }
    Err(LoadError(
        "providers.file needs a filename or a directory".into(),
    ))
}

fn load_file(path: &Path) -> Result<(String, Decoded), LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError(format!("cannot read {shown}: {e}")))?;
    let tree = from_file_text(&shown, &text).map_err(|e| LoadError(format!("{shown}: {e}")))?;
    let decoded = decode_dynamic(&tree, &shown);
    Ok((shown, decoded))
}

fn is_config_file(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yml" | "yaml" | "toml")
    )
}

/// Reads every `.yml`, `.yaml` and `.toml` file below `directory` (recursively, in name order)
/// and merges them. A file that cannot be parsed makes the whole read fail, so a half-saved
/// file never removes the routes it defines.
fn load_directory(directory: &Path) -> Result<Decoded, LoadError> {
    let mut files = Vec::new();
    collect_files(directory, &mut files)?;
    files.sort();
    let parts = files
        .iter()
        .map(|file| load_file(file))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merge_all(parts))
}

fn collect_files(directory: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(directory).map_err(|e| {
        LoadError(format!(
            "cannot read directory {}: {e}",
            directory.display()
        ))
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if is_config_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// What to watch: the directory, or the file's parent (editors replace files by renaming,
/// which a watch on the file itself would miss).
fn watch_target(config: &FileProvider) -> Option<(PathBuf, RecursiveMode)> {
    if let Some(file) = &config.filename {
        let parent = Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Some((parent.to_path_buf(), RecursiveMode::NonRecursive));
    }
    config
        .directory
        .as_ref()
        .map(|d| (PathBuf::from(d), RecursiveMode::Recursive))
}

/// Watches the files and sends a new configuration after each change (or the load error).
/// Runs until `updates` is closed.
pub async fn watch(config: FileProvider, updates: mpsc::Sender<ProviderUpdate>) {
    let Some((target, mode)) = watch_target(&config) else {
        return;
    };
    let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
    let only_file = config
        .filename
        .as_ref()
        .map(|f| PathBuf::from(f).file_name().map(ToOwned::to_owned));
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            let relevant = match &only_file {
                Some(Some(name)) => event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str())),
                _ => true,
            };
            if relevant && !event.kind.is_access() {
                let _ = events_tx.send(());
            }
        },
    ) {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch the configuration files; changes will not be reloaded");
            return;
        }
    };
    if let Err(e) = watcher.watch(&target, mode) {
        tracing::error!(path = %target.display(), error = %e, "cannot watch the configuration files; changes will not be reloaded");
        return;
    }
    tracing::info!(path = %target.display(), "watching the file provider's configuration");
    while events.recv().await.is_some() {
        tokio::time::sleep(SETTLE).await;
        while events.try_recv().is_ok() {}
        let update = ProviderUpdate {
            provider: NAME,
            result: load(&config).map_err(|e| e.to_string()),
        };
        if updates.send(update).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("file-provider-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_merges_yaml_and_toml() {
        let dir = temp_dir("merge");
        std::fs::write(
            dir.join("a.yml"),
            "http:\n  routers:\n    a: {rule: Path(`/a`), service: s}\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("sub/b.toml"),
            "[http.routers.b]\nrule = \"Path(`/b`)\"\nservice = \"s\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not config").unwrap();
        let config = FileProvider {
            directory: Some(dir.display().to_string()),
            ..Default::default()
        };
        let decoded = load(&config).unwrap();
        let routers = decoded.config.http.unwrap().routers;
        assert_eq!(routers.keys().collect::<Vec<_>>(), ["a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_file_fails_the_read_with_its_name_and_line() {
        let dir = temp_dir("broken");
        let file = dir.join("dyn.yml");
        std::fs::write(&file, "http:\n  routers:\n    a: {rule: Path(`/a`)\n").unwrap();
        let config = FileProvider {
            filename: Some(file.display().to_string()),
            ..Default::default()
        };
        let err = load(&config).unwrap_err().to_string();
        assert!(err.contains("dyn.yml") && err.contains("line"), "{err}");
        let missing = FileProvider {
            filename: Some(dir.join("nope.yml").display().to_string()),
            ..Default::default()
        };
        assert!(load(&missing).unwrap_err().to_string().contains("nope.yml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
