//! Files: the ones people pick, drop or paste, blob URLs for showing media, and saving a
//! download under its original name.

use wasm_bindgen::JsCast;
use web_sys::{Blob, DataTransfer, File, FileList, HtmlInputElement, Url};

/// A file from the person's device (or one we made, like a thumbnail). Cheap to clone: the
/// bytes stay in the browser.
#[derive(Clone)]
pub struct LocalFile {
    blob: Blob,
    name: String,
}

impl LocalFile {
    pub(super) fn from_blob(blob: Blob, name: String) -> Self {
        Self { blob, name }
    }

    fn from_file(file: File) -> Self {
        let name = file.name();
        Self {
            blob: file.into(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The browser's guess from the extension; empty when it has none.
    pub fn mimetype(&self) -> String {
        self.blob.type_()
    }

    pub fn size(&self) -> u64 {
        self.blob.size() as u64
    }

    pub(super) fn blob(&self) -> &Blob {
        &self.blob
    }
}

fn list(files: Option<FileList>) -> Vec<LocalFile> {
    let Some(files) = files else {
        return Vec::new();
    };
    (0..files.length())
        .filter_map(|i| files.get(i))
        .map(LocalFile::from_file)
        .collect()
}

fn transfer_files(transfer: Option<DataTransfer>) -> Vec<LocalFile> {
    list(transfer.and_then(|t| t.files()))
}

/// The files chosen in an `<input type="file">` (from its `change` event); clears the input
/// so that picking the same file again fires `change` again.
pub fn from_input(event: &web_sys::Event) -> Vec<LocalFile> {
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
    else {
        return Vec::new();
    };
    let files = list(input.files());
    input.set_value("");
    files
}

/// Whether a drag carries files (and not, say, selected text).
pub fn drag_has_files(event: &web_sys::DragEvent) -> bool {
    event.data_transfer().is_some_and(|t| {
        t.types()
            .iter()
            .any(|kind| kind.as_string().as_deref() == Some("Files"))
    })
}

/// The files dropped.
pub fn from_drop(event: &web_sys::DragEvent) -> Vec<LocalFile> {
    transfer_files(event.data_transfer())
}

/// The files pasted (e.g. a screenshot); empty for pasted text.
pub fn from_paste(event: &web_sys::ClipboardEvent) -> Vec<LocalFile> {
    transfer_files(event.clipboard_data())
}

/// A `blob:` URL for showing bytes in `<img>`, `<video>` or `<audio>`; revoked when dropped,
/// so the browser can free the bytes once nothing shows them.
pub struct ObjectUrl {
    url: String,
    size: u64,
}

impl ObjectUrl {
    pub(super) fn new(blob: &Blob) -> Option<Self> {
        let url = Url::create_object_url_with_blob(blob).ok()?;
        Some(Self {
            url,
            size: blob.size() as u64,
        })
    }

    /// How many bytes the URL keeps alive.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A URL for a local file (previews before sending).
    pub fn of_file(file: &LocalFile) -> Option<Self> {
        Self::new(&file.blob)
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Saves what the URL holds as a download named `filename`.
    pub fn save_as(&self, filename: &str) {
        let link = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("a").ok())
            .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
        if let Some(link) = link {
            link.set_href(&self.url);
            link.set_download(filename);
            link.click();
        }
    }
}

impl Drop for ObjectUrl {
    fn drop(&mut self) {
        // Revoking does not throw, even for a URL already gone.
        let _ = Url::revoke_object_url(&self.url);
    }
}
