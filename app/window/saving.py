"""Saving an output: which one, where by default, and the save dialog."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from app import tasks
from app.session import ImageEntry
from app.settings import SAVE_FORMATS
from app.widgets import SaveDialog
from app.window.work import Work
from app.worker import Job


class SavingMixin:
    """Saving for :class:`~app.main_window.MainWindow`."""

    def save_choices(self) -> list[tuple[str, object]]:
        """The outputs a save may mean, as (side, output): B's, then A's, of those shown; else the newest one."""
        entry = self.current_entry()
        if entry is None:
            return []
        a, b = self.compare.current_ids()
        choices: list[tuple[str, object]] = []
        for side, sid in (("B", b), ("A", a)):
            out = self.compare.output_for(sid)
            if out is not None and all(o is not out for _, o in choices):
                choices.append((side, out))
        if not choices:
            outs = entry.outputs_for(self.cfg.benchmark) or list(entry.outputs.values())
            choices = [("", outs[-1])] if outs else []
        return choices

    def output_to_save(self):
        """The output a save writes unless told otherwise (B, else A, else the newest one) with its entry."""
        choices = self.save_choices()
        return self.current_entry(), (choices[0][1] if choices else None)

    def save_folder(self, entry: ImageEntry) -> Path:
        """Settings' output folder, else the last folder saved to, else the input's folder if it can be written,
        else the user's Pictures folder."""
        for folder in (self.cfg.output_dir, self.cfg.last_save_dir):
            if folder:
                return Path(folder).expanduser()
        if entry.path.parent.name != "pasted" and os.access(entry.path.parent, os.W_OK):
            return entry.path.parent
        return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation))

    def default_save_path(self, entry: ImageEntry, out) -> Path:
        """``<folder>/<name>_<model>_<precision>_x4.<ext>``: each generator and precision keeps its own file."""
        from engine.imageio import default_output_path

        tag = "_".join(filter(None, [Path(out.key.model).stem, out.info.precision_label]))
        safe = "".join(c if c.isalnum() or c in "-_.," else "-" for c in tag)
        ext = SAVE_FORMATS.get(self.cfg.save_format, ".png")
        return default_output_path(entry.path, self.save_folder(entry), suffix=f"_{safe}_x{out.info.scale}", ext=ext)

    def save_dialog(self) -> None:
        dialog = self.make_save_dialog()
        if dialog is not None and dialog.exec():
            self.save_chosen(dialog)

    def make_save_dialog(self) -> SaveDialog | None:
        """The save dialog for the shown image's outputs, B's first; None (and a notice) if there is none."""
        entry = self.current_entry()
        choices = self.save_choices()
        if not choices:
            self.notice.show_message("Nothing to save yet: upscale an image first.", error=True)
            return None
        labels = [(out, f"{side}: {out.label}" if side else out.label) for side, out in choices]
        return SaveDialog(labels, lambda out: self.default_save_path(entry, out), self.cfg.save_format,
                          self.cfg.quality, self)

    def save_chosen(self, dialog: SaveDialog) -> Job | None:
        """Save what an accepted save dialog says, and remember its folder for the next save."""
        out, path, fmt, quality = dialog.chosen()
        self.cfg.save_format, self.cfg.quality = fmt, quality
        self.cfg.last_save_dir = str(path.parent)
        self.cfg.save(self.store)
        return self.save_output(path, quality, out)

    def save_output(self, path, quality: int | None = None, out=None) -> Job | None:
        """Write ``out`` (default: the output shown as B, else A) to ``path`` in the worker; never over the input."""
        entry, default = self.output_to_save()
        out = out or default
        if out is None:
            self.notice.show_message("Nothing to save yet: upscale an image first.", error=True)
            return None
        job = self.runner.submit(f"Saving {Path(path).name}",
                                 tasks.save_job(out.picture, Path(path), entry.path, quality or self.cfg.quality),
                                 tag=Work("save", entry.id),
                                 on_done=lambda job, saved: self.notice.show_message(f"Saved {saved}"))
        self._set_busy(True)
        return job
