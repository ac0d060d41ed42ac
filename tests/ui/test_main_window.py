"""The main window as a whole: what its pages do when the document outlives it."""


def test_a_document_that_outlives_its_window_reaches_none_of_its_pages(qtbot, tmp_path):
    """Pages hear of the document through methods, which Qt disconnects when they go; a
    lambda would outlive them and call into deleted widgets (segfault or RuntimeError)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    from graph.fileformat import load
    from tests.conftest import EXAMPLES
    from ui.document import Document
    from ui.main_window import MainWindow

    document = Document(load(EXAMPLES / "digits_mlp.json"))
    window = MainWindow(document, autosave=False, remember_layout=False)
    window.show()
    qtbot.waitExposed(window)
    document.setParent(None)
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del window
    gc.collect()
    errors = []
    with qtbot.captureExceptions() as errors:
        document.replace(load(EXAMPLES / "digits_cnn.json"))
        document.revalidate()
        document.set_path(tmp_path / "other.json")
    assert not errors, [str(e[1]) for e in errors]
