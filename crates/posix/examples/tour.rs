//! A short tour of the POSIX core: files, links, permissions, a sparse file, a watcher.
//!
//! Run: `cargo run --release -p memory-fs-posix --example tour`.

use std::io::{Read, Write};

use memory_fs_posix::{Credentials, MemoryFileSystem, OpenFlags};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fs = MemoryFileSystem::new();
    let watcher = fs.watch("/", true)?;

    fs.mkdir("/home", 0o755)?;
    fs.mkdir("/home/alice", 0o700)?;
    fs.chown("/home/alice", 1000, 1000)?;
    let alice = fs.with_credentials(Credentials {
        uid: 1000,
        gid: 1000,
        groups: vec![],
    });
    let bob = fs.with_credentials(Credentials {
        uid: 2000,
        gid: 2000,
        groups: vec![],
    });

    let mut notes = alice.open_file(
        "/home/alice/notes.txt",
        OpenFlags::WRITE | OpenFlags::CREATE,
        0o644,
    )?;
    notes.write_all(b"buy milk\n")?;
    drop(notes);
    alice.symlink("notes.txt", "/home/alice/todo")?;
    alice.link("/home/alice/notes.txt", "/home/alice/notes.bak")?;

    let mut text = String::new();
    alice
        .open_file("/home/alice/todo", OpenFlags::READ, 0)?
        .read_to_string(&mut text)?;
    println!("alice reads her todo through a symlink: {text:?}");
    println!(
        "notes.txt has {} links",
        alice.stat("/home/alice/notes.txt")?.nlink
    );

    match bob.readdir("/home/alice") {
        Ok(names) => println!("bob lists alice's home: {names:?}"),
        Err(e) => println!("bob lists alice's home: {e}"),
    }
    match bob.open("/home/alice/notes.txt", OpenFlags::READ, 0) {
        Ok(_) => println!("bob opened alice's notes"),
        Err(e) => println!("bob opens alice's notes: {e}"),
    }

    fs.mkdir("/var", 0o755)?;
    let fd = fs.open(
        "/var/sparse.img",
        OpenFlags::WRITE | OpenFlags::CREATE,
        0o600,
    )?;
    fs.ftruncate(fd, 1 << 50)?;
    fs.close(fd)?;
    println!(
        "a {} byte sparse file; the whole tree holds {} bytes of content",
        fs.stat("/var/sparse.img")?.size,
        fs.usage().bytes
    );

    println!(
        "realpath of /home/alice/./todo: {}",
        fs.realpath("/home/alice/./todo")?
    );
    println!("events seen by a recursive watcher on /:");
    while let Some(event) = watcher.try_recv() {
        println!("  {:?} {}", event.kind, event.path);
    }
    Ok(())
}
