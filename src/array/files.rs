//! Arrays read from and written to files by the engines that hold them:
//! one `.npy` file on storage the engines share (each engine reads or
//! writes its own part of it, with a seek and a read or write per run), or
//! a directory of block files for arrays larger than one file should be.
//! The client moves no array bytes; paths are as the engines see them.

use super::dist::DistArray;
use super::engine::create::BlockInfo;
use super::engine::npy::{name, temporary, FileTask, Header, Part};
use super::remote_array::RemoteArray;
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::proxy::{Call, ObjectHub};
use crate::value::{Element, Value};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A directory of block files: what `layout.json` in it says.
#[derive(Debug, Serialize, Deserialize)]
struct Layout {
    dtype: crate::value::DType,
    shape: Vec<usize>,
    axis: usize,
    blocks: Vec<usize>,
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn refused(message: String) -> Error {
    Error::Refused { message }
}

impl ObjectHub {
    /// Runs a file task on engine `node`.
    fn task<R: Value>(&self, node: NodeId, task: FileTask) -> Result<Call<R>> {
        let (spec, sent) = self.put(node, task)?;
        drop(sent);
        Ok(spec.apply_named(name::TASK, &()))
    }

    /// Puts `spec` on `node` and runs the named file function on it,
    /// keeping the array it makes (of `shape`, which the function is given
    /// to check) there.
    fn made_from<S: Value, A: Element + Value>(
        &self,
        node: NodeId,
        spec: S,
        function: &str,
        shape: Vec<usize>,
    ) -> Result<Call<RemoteArray<A>>> {
        let (spec, sent) = self.put(node, spec)?;
        drop(sent);
        Ok(spec.apply_named_kept(function, &(shape.clone(),), Some(shape)))
    }

    fn first_engine(&self) -> Result<NodeId> {
        self.engines().first().copied().ok_or(Error::HubClosed)
    }

    /// A `.npy` file as a distributed array split along `axis`: the header
    /// is read on one engine, then each engine reads its own rows of the
    /// file. A file that is not a `.npy` of `A` elements in C order, whose
    /// header lies about its length, or that is truncated, is an error
    /// naming the file.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("x.npy");
    /// let x = cluster.arange::<f64>(0.0, 10.0, 1.0)?;
    /// x.save_npy(&path).await?;
    /// let back = cluster.hub().load_npy::<f64>(&path, 0).await?;
    /// assert_eq!(cluster.gather(&back).await?, cluster.gather(&x).await?);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn load_npy<A: Element + Value>(
        &self,
        path: impl AsRef<Path>,
        axis: isize,
    ) -> Result<DistArray<A>> {
        let path = text(path.as_ref());
        let header: Header = self
            .task(self.first_engine()?, FileTask::Header(path.clone()))?
            .await?;
        if header.dtype != A::DTYPE {
            return Err(refused(format!(
                "{path}: holds {} elements, not {}",
                header.dtype,
                A::DTYPE
            )));
        }
        let (k, plan) = self.block_plan(&header.shape, axis)?;
        let reads = plan
            .into_iter()
            .map(|(node, info)| {
                let block = info.block_shape();
                let part = Part {
                    path: path.clone(),
                    header: header.clone(),
                    info,
                };
                self.made_from(node, part, name::read(A::DTYPE), block)
            })
            .collect::<Result<Vec<_>>>()?;
        let blocks = futures::future::try_join_all(reads).await?;
        Ok(DistArray::assemble(blocks, k, header.shape, Vec::new()))
    }

    /// A directory written by [`DistArray::save_blocks`]: each block file
    /// read by one engine (in turn over the engines).
    pub async fn load_blocks<A: Element + Value>(
        &self,
        dir: impl AsRef<Path>,
    ) -> Result<DistArray<A>> {
        let dir = dir.as_ref();
        let layout_path = text(&dir.join("layout.json"));
        let json: String = self
            .task(
                self.first_engine()?,
                FileTask::ReadText(layout_path.clone()),
            )?
            .await?;
        let layout: Layout =
            serde_json::from_str(&json).map_err(|e| refused(format!("{layout_path}: {e}")))?;
        if layout.dtype != A::DTYPE {
            return Err(refused(format!(
                "{layout_path}: blocks of {}, not {}",
                layout.dtype,
                A::DTYPE
            )));
        }
        let fits = layout.axis < layout.shape.len()
            && layout.blocks.iter().sum::<usize>() == layout.shape[layout.axis];
        if !fits {
            return Err(refused(format!(
                "{layout_path}: blocks {:?} along axis {} do not make {:?}",
                layout.blocks, layout.axis, layout.shape
            )));
        }
        let engines = self.engines();
        if engines.is_empty() {
            return Err(Error::HubClosed);
        }
        let loads = layout
            .blocks
            .iter()
            .enumerate()
            .map(|(i, len)| {
                let node = engines[i % engines.len()];
                let mut shape = layout.shape.clone();
                shape[layout.axis] = *len;
                let path = text(&dir.join(block_file(i)));
                self.made_from(node, path, name::load(A::DTYPE), shape)
            })
            .collect::<Result<Vec<_>>>()?;
        let blocks = futures::future::try_join_all(loads).await?;
        Ok(DistArray::from_blocks(blocks, layout.axis as isize)?)
    }
}

fn block_file(i: usize) -> String {
    format!("block-{i:05}.npy")
}

impl<A: Element + Value> DistArray<A> {
    /// Writes the array to one `.npy` file: one engine lays the file out
    /// under a temporary name beside `path`, every engine writes its own
    /// part into it at once, and the file is renamed to `path` only when
    /// every part is in (on a failure it is removed, and `path` untouched).
    pub async fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = text(path.as_ref());
        let tmp = temporary(&path);
        let (hub, first) = self.first_block()?;
        let blocks = self.blocks();
        let work = async {
            let create = FileTask::Create(tmp.clone(), A::DTYPE, self.shape().to_vec());
            let offset: u64 = hub.task(first, create)?.await?;
            let header = Header {
                dtype: A::DTYPE,
                shape: self.shape().to_vec(),
                offset,
            };
            let writes = blocks.iter().zip(self.ranges()).map(|(b, r)| {
                let info = BlockInfo {
                    shape: self.shape().to_vec(),
                    axis: self.axis(),
                    start: r.start,
                    len: r.len(),
                };
                let part = Part {
                    path: tmp.clone(),
                    header: header.clone(),
                    info,
                };
                b.apply_named::<()>(name::write(A::DTYPE), &(part,))
            });
            futures::future::try_join_all(writes).await.map(drop)
        };
        put_in_place(&hub, first, tmp.clone(), path, work.await).await
    }

    /// The hub of the blocks and the first block's engine, which lays out
    /// and finishes files.
    fn first_block(&self) -> Result<(ObjectHub, NodeId)> {
        let (blocks, _) = self.parts();
        let b = blocks.first().ok_or(super::ShapeError::NoBlocks)?;
        Ok((b.hub().clone(), b.node()))
    }

    /// Writes each block to its own `.npy` file in directory `dir`, each by
    /// its engine, with a `layout.json` beside them for
    /// [`ObjectHub::load_blocks`]; the directory is written under a
    /// temporary name and replaces `dir` only when complete.
    pub async fn save_blocks(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let (hub, first) = self.first_block()?;
        let blocks = self.blocks();
        let tmp = temporary(&text(dir));
        let tmp_dir = Path::new(&tmp);
        let work = async {
            hub.task::<()>(first, FileTask::MakeDir(tmp.clone()))?
                .await?;
            let saves = blocks.iter().enumerate().map(|(i, b)| {
                let path = text(&tmp_dir.join(block_file(i)));
                b.apply_named::<()>(name::save(A::DTYPE), &(path,))
            });
            futures::future::try_join_all(saves).await?;
            let layout = Layout {
                dtype: A::DTYPE,
                shape: self.shape().to_vec(),
                axis: self.axis(),
                blocks: self.block_lens(),
            };
            let json = serde_json::to_string_pretty(&layout).map_err(|e| refused(e.to_string()))?;
            let layout_path = text(&tmp_dir.join("layout.json"));
            hub.task::<()>(first, FileTask::WriteText(layout_path, json))?
                .await
        };
        put_in_place(&hub, first, tmp.clone(), text(dir), work.await).await
    }
}

/// What was written under `tmp` moved to `path` when the writing went
/// well, or removed when it did not (its error is then the answer).
async fn put_in_place(
    hub: &ObjectHub,
    node: NodeId,
    tmp: String,
    path: String,
    written: Result<()>,
) -> Result<()> {
    let keep = written.is_ok();
    let finished: Result<()> = hub.task(node, FileTask::Finish { tmp, path, keep })?.await;
    written?;
    finished
}

impl<A: Element + Value> RemoteArray<A> {
    /// Writes the array to a `.npy` file, on its engine (under a temporary
    /// name first, then renamed).
    pub fn save_npy(&self, path: impl AsRef<Path>) -> Call<()> {
        self.apply_named(name::save(A::DTYPE), &(text(path.as_ref()),))
    }
}

impl crate::Cluster {
    /// A `.npy` file read by the engines (see [`ObjectHub::load_npy`]).
    pub async fn load_npy<A: Element + Value>(
        &self,
        path: impl AsRef<Path>,
        axis: isize,
    ) -> Result<DistArray<A>> {
        self.hub().load_npy(path, axis).await
    }

    /// A directory of block files read by the engines (see
    /// [`ObjectHub::load_blocks`]).
    pub async fn load_blocks<A: Element + Value>(
        &self,
        dir: impl AsRef<Path>,
    ) -> Result<DistArray<A>> {
        self.hub().load_blocks(dir).await
    }
}
