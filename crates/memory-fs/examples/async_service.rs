//! A tokio service's use of Memory-FS: many requests at once on one runtime, each a
//! save or a load that never blocks the executor, and a large upload streamed in and
//! out in chunks.
//!
//! Run it with `cargo run -p memory-fs --features async,sqlite --example async_service`.

use futures::StreamExt as _;
use memory_fs::{AsyncMemoryFs, Bytes, FileId, FileSpec, FileType, PathHandler, Query};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("service.db").display());
    let fs = AsyncMemoryFs::open(&url).await?;

    // 200 requests at once: each task saves an order and reads it back.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200u32 {
        let fs = fs.clone();
        tasks.spawn(async move {
            let id = format!("order-{n:03}");
            let spec = FileSpec::new(FileId::new(&id)?, FileType::json()).folders(["orders"]);
            fs.save_json(spec, json!({ "order": n, "total": n * 3 }))
                .await?;
            fs.add_tags(&id, [if n % 2 == 0 { "even" } else { "odd" }])
                .await?;
            let back = fs.load_json(&id).await?;
            assert_eq!(back, Some(json!({ "order": n, "total": n * 3 })));
            Ok::<_, memory_fs::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let even = fs.query(Query::new().tag("even")).await?;
    println!(
        "saved 200 orders at once; {} are tagged even",
        even.files.len()
    );

    // A 32 MiB upload arrives in 64 KiB chunks and is streamed into the store...
    let chunks = (0..512u32).map(|i| Ok(Bytes::from(vec![(i % 251) as u8; 64 * 1024])));
    let spec = FileSpec::new(FileId::new("upload")?, FileType::binary())
        .handlers([PathHandler::latest(), PathHandler::versioned()]);
    let file = fs.save_stream(spec, futures::stream::iter(chunks)).await?;
    println!(
        "streamed {} bytes in, versions {:?}",
        file.metadata().map_or(0, |m| m.content_size),
        file.versions()
    );

    // ...and out again, chunk by chunk, checked against its hash at the end.
    let mut stream = fs.load_stream("upload").await?;
    let (mut bytes, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        chunks += 1;
    }
    println!("streamed {bytes} bytes out in {chunks} chunks");
    assert_eq!(bytes, 32 << 20);
    Ok(())
}
