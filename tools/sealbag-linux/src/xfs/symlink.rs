//! Symbolic link targets: in the inode (local) or in blocks (remote), which
//! on v5 filesystems carry an `XSLM` header with CRC, owner and offset.

use super::bmap::{self, Extent};
use super::inode::{Format, Inode};
use super::superblock::Geometry;
use super::{be32, be64, crc, XfsError};

/// "XSLM".
const MAGIC: u32 = 0x5853_4C4D;
/// Header of a v5 remote symlink block.
const HEADER: usize = 56;
/// Offset of the CRC in that header.
const CRC_OFFSET: usize = 12;
/// The longest target XFS stores.
pub const MAX_LEN: u64 = 1024;

/// The target of symlink `inode`.
pub fn target(
    inode: &Inode,
    geo: &Geometry,
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, XfsError>,
) -> Result<Vec<u8>, XfsError> {
    let ino = inode.ino;
    let corrupt = |detail: String| XfsError::Corrupt { ino, detail };
    if inode.size == 0 || inode.size > MAX_LEN {
        return Err(corrupt(format!("symlink target of {} bytes", inode.size)));
    }
    let size = inode.size as usize;
    match inode.format {
        Format::Local => inode
            .fork
            .get(..size)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| corrupt(format!("local symlink of {size} bytes overflows its fork"))),
        Format::Extents | Format::Btree => {
            let extents: Vec<Extent> = bmap::data_extents(inode, geo, read_block)?;
            let mut out = Vec::with_capacity(size);
            let mut file_block = 0u64;
            while out.len() < size {
                let e = extents
                    .get(bmap::find(&extents, file_block))
                    .filter(|e| e.offset <= file_block)
                    .ok_or_else(|| corrupt(format!("symlink block {file_block} is not mapped")))?;
                let fsbno = e.block + (file_block - e.offset);
                let block = read_block(fsbno)?;
                let data = if geo.crc {
                    let offset = geo.block_offset(fsbno).unwrap_or(0);
                    if be32(&block, 0) != MAGIC {
                        return Err(corrupt(format!("symlink block {file_block}: bad magic")));
                    }
                    if !crc::verify(&block, CRC_OFFSET) {
                        return Err(XfsError::Checksum {
                            what: format!("inode {ino} symlink block {file_block}"),
                            offset,
                        });
                    }
                    let at = be32(&block, 4) as usize;
                    let bytes = be32(&block, 8) as usize;
                    if at != out.len()
                        || be64(&block, 32) != ino
                        || be64(&block, 40) != offset / 512
                    {
                        return Err(corrupt(format!(
                            "symlink block {file_block}: offset, owner or block number differ"
                        )));
                    }
                    block
                        .get(HEADER..HEADER + bytes.min(size - out.len()))
                        .ok_or_else(|| {
                            corrupt(format!("symlink block {file_block} holds {bytes} bytes"))
                        })?
                        .to_vec()
                } else {
                    let n = block.len().min(size - out.len());
                    block[..n].to_vec()
                };
                if data.is_empty() {
                    return Err(corrupt(format!("symlink block {file_block} is empty")));
                }
                out.extend_from_slice(&data);
                file_block += 1;
            }
            Ok(out)
        }
        Format::Device => Err(corrupt("symlink with a device fork".into())),
    }
}
