//! Fixtures for `bench/publish`, written as OCI layouts with incompressible layers.
//!
//! `bench_fixtures set DIR` writes 10 images of 5 layers each: 3 base layers shared by all
//! (20 MiB each) and 2 layers of their own (7 MiB each), about 200 MiB of unique bytes.
//! `bench_fixtures big DIR MIB` writes one image with a single layer of MIB mebibytes.
//! Layers are gzip streams of stored (uncompressed) blocks: valid, and fast to write.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("set") => {
            let dir = Path::new(&args[2]);
            for i in 0..10u64 {
                let layers = [
                    (1, 20),
                    (2, 20),
                    (3, 20),
                    (100 + 2 * i, 7),
                    (101 + 2 * i, 7),
                ];
                dockhand::fixtures::write_random_layout(&dir.join(format!("img{i}")), &layers)?;
            }
        }
        Some("big") => {
            let mib: usize = args[3].parse().expect("size in MiB");
            dockhand::fixtures::write_random_layout(Path::new(&args[2]), &[(7, mib)])?;
        }
        _ => {
            eprintln!("usage: bench_fixtures set DIR | big DIR MIB");
            std::process::exit(2);
        }
    }
    Ok(())
}
