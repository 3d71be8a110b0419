"""Adding images to the queue: files, folders, recent files, drag and drop, paste; removing them."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
)

from app import qimage
from app.session import ImageEntry
from engine.errors import MPSRError


class InputsMixin:
    """The queue's inputs for :class:`~app.main_window.MainWindow`."""

    def add_paths(self, items) -> list[ImageEntry]:
        """Queue files, folders and glob patterns; problems are reported, the rest is queued."""
        from engine import imageio

        added, errors = [], []
        first: ImageEntry | None = None  # what to show: the first file given, new or already queued
        for item in items:
            try:
                paths = imageio.collect_inputs([item])
            except MPSRError as err:
                errors.append(str(err))
                continue
            self.cfg.add_recent(str(Path(item).resolve()))
            for path in paths:
                entry = self.session.add(path)
                if entry is not None:
                    self.queue.add_entry(entry)
                    added.append(entry)
                first = first or entry or self.session.find(path)
        if first is not None:
            self.queue.select_entry(first.id)
        if errors:
            self.notice.show_message("\n".join(errors), error=True)
        if added:
            self.status_label.setText(f"{len(added)} image(s) added; press Upscale (Ctrl+Enter)")
        return added

    def open_files_dialog(self) -> None:
        from engine.imageio import SUPPORTED_EXTENSIONS

        patterns = " ".join(f"*{e}" for e in sorted(SUPPORTED_EXTENSIONS))
        names, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_dir(), f"Images ({patterns})")
        if names:
            self.add_paths(names)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_dir())
        if folder:
            self.add_paths([folder])

    def _last_dir(self) -> str:
        if self.cfg.recent_files:
            last = Path(self.cfg.recent_files[0])
            return str(last if last.is_dir() else last.parent)
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.cfg.recent_files:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.add_paths([p]))
        self.recent_menu.setEnabled(bool(self.cfg.recent_files))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self._add_mime(event.mimeData())
        event.acceptProposedAction()

    def paste(self) -> None:
        if not self._add_mime(QGuiApplication.clipboard().mimeData()):
            self.notice.show_message("The clipboard holds no image and no image files.", error=True)

    def _add_mime(self, mime) -> bool:
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        if not files and mime.hasText():
            files = [line.strip() for line in mime.text().splitlines() if line.strip() and Path(line.strip()).exists()]
        if files:
            self.add_paths(files)
            return True
        if mime.hasImage():
            image = mime.imageData()
            if image is not None and not image.isNull():
                self.add_paths([self._save_pasted(image)])
                return True
        return False

    def _save_pasted(self, image) -> Path:
        """Keep a pasted image as a PNG, so it is an input file like any other."""
        from engine.imageio import Picture, write_image

        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)) / "pasted"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / time.strftime("pasted-%Y%m%d-%H%M%S.png")
        n = 1
        while target.exists():
            target = target.with_name(f"{target.stem.split('~')[0]}~{n}.png")
            n += 1
        rgb = qimage.qimage_to_array(image).astype("float32") / 255.0
        return write_image(target, Picture(rgb=rgb, alpha=None, bits=8))

    def remove_entries(self, ids: list[int]) -> None:
        for job in self.runner.pending():
            if job.tag.entry_id in ids:
                job.cancel.cancel()
        for entry_id in ids:
            self.session.remove(entry_id)
            self.queue.remove_entry(entry_id)
            self.compare.forget(entry_id)
        current = self.queue.current_entry_id()
        if current is not None:
            self._show_entry(current)
        else:
            self.compare.show_entry(None, False, self.cfg.input_view)

    def clear_queue(self) -> None:
        self.remove_entries([e.id for e in self.session])
