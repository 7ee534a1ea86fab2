//! A VFS for the SQLite writer's connection that hands a commit's WAL frames to the kernel in a
//! few large `pwrite`s instead of two per page.
//!
//! SQLite appends a frame to the WAL as two writes: its 24-byte header, then the page. Frames are
//! not aligned to the OS page, so each frame costs two system calls and three trips through the
//! file system's per-page write path; a PATCH dirties several pages, and under load those writes
//! were a sixth of the server's CPU. This VFS is SQLite's own `unix` VFS except that, for WAL
//! files, writes that continue one another are gathered in memory and written together.
//!
//! When the gathered bytes go out:
//! - with the header of a commit frame (a frame header whose "database size" field is not zero),
//!   and the write after it (the commit frame's page) goes straight out too: a commit's frames
//!   are in the file before SQLite publishes them to other connections, and a failed write fails
//!   the commit as it would have without this VFS. (When a transaction rewrote a page it had
//!   already written to the WAL, SQLite rewrites the frame headers' checksums at the commit, the
//!   commit frame's header last, with no page after it; that header goes out at once all the
//!   same.)
//! - before any read, sync, truncate, size query, file control or close of the WAL, before a
//!   write elsewhere in it, and when [`MAX_GATHERED`] bytes are waiting.
//!
//! So every other connection, the syncer's `fdatasync` and a crash see what they would have
//! seen without it: the frames of committed transactions. After each commit, [`write_out`]
//! checks that nothing was held back (and writes it if something was).

use rusqlite::ffi;
use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

/// The VFS's name, to open a connection with (`Connection::open_with_flags_and_vfs`).
pub const NAME: &CStr = c"graphsec-wal";

/// Past this many gathered bytes (a large transaction: a bulk load) they are written at once.
const MAX_GATHERED: usize = 4 << 20;
/// The unix VFS writes at most 128 KiB - 1 bytes per call, so the gathered bytes go out in
/// pieces of up to this many.
const WRITE_ALIGN: i64 = 64 << 10;
/// A WAL frame header: page number, database size after a commit (zero otherwise), salts and
/// checksums.
const FRAME_HEADER_BYTES: usize = 24;

/// Registers the VFS with SQLite (once per process); false if that failed.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| unsafe {
        let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
        if unix.is_null() {
            return false;
        }
        // The `unix` VFS's methods only use their VFS argument for `pAppData` and `mxPathname`,
        // both copied here, so every method but xOpen is the unix one as it is.
        let mut vfs: ffi::sqlite3_vfs = *unix;
        vfs.szOsFile = (std::mem::size_of::<WalFile>() + (*unix).szOsFile as usize) as c_int;
        vfs.zName = NAME.as_ptr();
        vfs.pNext = std::ptr::null_mut();
        vfs.xOpen = Some(open);
        UNIX.get_or_init(|| UnixVfs(unix));
        ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0) == ffi::SQLITE_OK
    })
}

/// Writes out whatever the WAL of `conn`'s main database holds back and says how many bytes that
/// was: 0 after every commit, unless SQLite wrote its WAL in a way this VFS does not expect.
/// Connections not opened through this VFS, or without a WAL, hold nothing.
pub fn write_out(conn: &rusqlite::Connection) -> rusqlite::Result<usize> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the connection is open; JOURNAL_POINTER stores a pointer to the journal's file
    // object (or null), which lives as long as the connection and is only used on this thread.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_JOURNAL_POINTER,
            (&mut file as *mut *mut ffi::sqlite3_file).cast(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || !std::ptr::eq((*file).pMethods, &WAL_METHODS) {
            return Ok(0);
        }
        let held = WalFile::of(file).gathered.len();
        match WalFile::flush(file) {
            ffi::SQLITE_OK => Ok(held),
            rc => Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some("cannot write the WAL".into()))),
        }
    }
}

struct UnixVfs(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's registered VFS objects are process-wide and immutable once registered.
unsafe impl Send for UnixVfs {}
unsafe impl Sync for UnixVfs {}
static UNIX: OnceLock<UnixVfs> = OnceLock::new();

/// A WAL file: SQLite sees `base`; the unix VFS's own file object follows this struct in the
/// same allocation (SQLite allocates `szOsFile` bytes and never moves them).
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    gathered: Vec<u8>,
    /// The WAL offset of `gathered[0]`.
    start: i64,
    /// The last write was the header of a commit frame: the next one is its page, which ends
    /// the commit.
    commit_page_next: bool,
}

impl WalFile {
    unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
        unsafe { file.cast::<u8>().add(std::mem::size_of::<WalFile>()).cast() }
    }

    unsafe fn of<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
        unsafe { &mut *file.cast::<WalFile>() }
    }

    /// Writes out what is gathered; the buffer is emptied whatever the outcome (after a failed
    /// write SQLite rolls the transaction back and rewrites those frames if it retries).
    unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
        let wal = unsafe { WalFile::of(file) };
        wal.commit_page_next = false;
        if wal.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let inner = unsafe { WalFile::inner(file) };
        let write = unsafe { (*(*inner).pMethods).xWrite.expect("the unix VFS writes") };
        let (mut done, mut rc) = (0, ffi::SQLITE_OK);
        while done < wal.gathered.len() && rc == ffi::SQLITE_OK {
            let offset = wal.start + done as i64;
            // Pieces end at WRITE_ALIGN boundaries of the file, so no OS page is written twice.
            let to_boundary = (WRITE_ALIGN - offset % WRITE_ALIGN) as usize;
            let piece = to_boundary.min(wal.gathered.len() - done);
            rc = unsafe { write(inner, wal.gathered[done..].as_ptr().cast(), piece as c_int, offset) };
            done += piece;
        }
        wal.gathered.clear();
        if wal.gathered.capacity() > MAX_GATHERED * 2 {
            wal.gathered.shrink_to(MAX_GATHERED);
        }
        rc
    }
}

/// The unix file's method `$m`, called on the unix file behind `$file`.
macro_rules! forward {
    ($file:expr, $m:ident $(, $arg:expr)*) => {{
        let inner = WalFile::inner($file);
        ((*(*inner).pMethods).$m.expect(concat!("the unix VFS has ", stringify!($m))))(inner $(, $arg)*)
    }};
}

/// Writes out what is gathered, then calls the unix method (or returns the write's error).
macro_rules! flush_then_forward {
    ($file:expr, $m:ident $(, $arg:expr)*) => {{
        let rc = WalFile::flush($file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        forward!($file, $m $(, $arg)*)
    }};
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let unix = UNIX.get().expect("registered").0;
    let unix_open = unsafe { (*unix).xOpen.expect("the unix VFS opens files") };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Everything but the WAL is the unix VFS's file itself, at the start of the allocation.
        return unsafe { unix_open(unix, name, file, flags, out_flags) };
    }
    unsafe {
        let inner = WalFile::inner(file);
        let rc = unix_open(unix, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*inner).pMethods.is_null() {
            // SQLite closes only files whose pMethods is set, and ours is not: close the unix
            // file here if it got that far (nothing of ours exists yet).
            if !(*inner).pMethods.is_null() {
                forward!(file, xClose);
            }
            (*file).pMethods = std::ptr::null();
            return if rc == ffi::SQLITE_OK { ffi::SQLITE_CANTOPEN } else { rc };
        }
        std::ptr::write(
            file.cast::<WalFile>(),
            WalFile {
                base: ffi::sqlite3_file { pMethods: &WAL_METHODS },
                gathered: Vec::new(),
                start: 0,
                commit_page_next: false,
            },
        );
        rc
    }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: Some(wal_shm_map),
    xShmLock: Some(wal_shm_lock),
    xShmBarrier: Some(wal_shm_barrier),
    xShmUnmap: Some(wal_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(wal_unfetch),
};

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed = WalFile::flush(file);
        let closed = forward!(file, xClose);
        std::ptr::drop_in_place(file.cast::<WalFile>());
        (*file).pMethods = std::ptr::null();
        if flushed != ffi::SQLITE_OK { flushed } else { closed }
    }
}

unsafe extern "C" fn wal_read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    unsafe { flush_then_forward!(file, xRead, buf, amount, offset) }
}

unsafe extern "C" fn wal_write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    // Each `WalFile::of` borrow ends before `flush` takes the file again.
    unsafe {
        let wal = WalFile::of(file);
        if !wal.gathered.is_empty() && offset != wal.start + wal.gathered.len() as i64 {
            let rc = WalFile::flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), amount as usize);
        let commit_header = bytes.len() == FRAME_HEADER_BYTES && bytes[4..8] != [0; 4];
        let wal = WalFile::of(file);
        if wal.gathered.is_empty() {
            wal.start = offset;
        }
        wal.gathered.extend_from_slice(bytes);
        if commit_header || wal.commit_page_next || wal.gathered.len() >= MAX_GATHERED {
            let rc = WalFile::flush(file);
            WalFile::of(file).commit_page_next = commit_header;
            return rc;
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { flush_then_forward!(file, xTruncate, size) }
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { flush_then_forward!(file, xSync, flags) }
}

unsafe extern "C" fn wal_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { flush_then_forward!(file, xFileSize, size) }
}

unsafe extern "C" fn wal_lock(file: *mut ffi::sqlite3_file, lock: c_int) -> c_int {
    unsafe { forward!(file, xLock, lock) }
}

unsafe extern "C" fn wal_unlock(file: *mut ffi::sqlite3_file, lock: c_int) -> c_int {
    unsafe { forward!(file, xUnlock, lock) }
}

unsafe extern "C" fn wal_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe { forward!(file, xCheckReservedLock, out) }
}

unsafe extern "C" fn wal_file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    unsafe { flush_then_forward!(file, xFileControl, op, arg) }
}

unsafe extern "C" fn wal_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { forward!(file, xSectorSize) }
}

unsafe extern "C" fn wal_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { forward!(file, xDeviceCharacteristics) }
}

unsafe extern "C" fn wal_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { forward!(file, xShmMap, page, page_size, extend, out) }
}

unsafe extern "C" fn wal_shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    unsafe { forward!(file, xShmLock, offset, n, flags) }
}

unsafe extern "C" fn wal_shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe { forward!(file, xShmBarrier) }
}

unsafe extern "C" fn wal_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe { forward!(file, xShmUnmap, delete) }
}

unsafe extern "C" fn wal_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { flush_then_forward!(file, xFetch, offset, amount, out) }
}

unsafe extern "C" fn wal_unfetch(file: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    unsafe { forward!(file, xUnfetch, offset, page) }
}
