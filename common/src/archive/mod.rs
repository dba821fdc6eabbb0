//! The sealed archive: a POSIX tar, zstd-compressed, age-encrypted.
//!
//! Layout inside the tar:
//! - `sealbag/profile.toml`: the profile the run used (first member);
//! - `files/<path on the source>`: the collected bytes;
//! - `sealbag/manifest.jsonl`: one JSON object per entry seen;
//! - `sealbag/log.jsonl`: the run's log;
//! - `sealbag/collection.json`: the chain-of-custody record (last member).
//!
//! It opens with stock tools: `age -d -i key.txt X.tar.zst.age | zstd -d | tar x`.

mod age_stream;
mod custody;
mod layers;
mod manifest;
mod offload;
mod reader;
mod spill;
pub use spill::{next_generated_spill, set_spill_base, SpillBuffer, SpillReader};
mod split;
mod tar_stream;
mod uncached;
mod unpack;
mod verify;
mod writer;

pub use custody::{
    CollectionInfo, Encryption, HostFacts, ProfileRecord, VolumeRecord, COLLECTION_FORMAT,
};
pub use layers::{Output, OutputFile};
pub use manifest::{bytes_of, text_and_b64, ManifestRecord, Status};
pub use reader::{open_plaintext, read_identities, OpenError, Plaintext, Position};
pub(crate) use split::PartCheck;
pub use split::{
    check_parts, find_split, index_path, parse_index, part_path, read_index, PartRecord,
    PartsReader, SplitError, SplitIndex, SplitSet, SPLIT_FORMAT,
};
pub use tar_stream::{EntryType, StoreIncompressible, TarStream};
pub use unpack::{unpack, UnpackError, UnpackReport};
pub use verify::{verify, VerifyReport};
pub use writer::{names, ArchiveOptions, ArchiveWriter, Sealed};
