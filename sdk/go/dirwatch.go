package podplug

import "github.com/fsnotify/fsnotify"

// dirWatch reports changes in one folder, so that Locate sees a plugin's
// handshake file the moment it is written rather than at its next poll. It
// degrades to nothing (Locate's poll alone) while the folder does not exist
// or inotify is unavailable.
type dirWatch struct {
	dir string
	w   *fsnotify.Watcher
	on  bool
	// ch holds at most one pending change: any number of events between two
	// looks need only one more look.
	ch chan struct{}
}

func newDirWatch(dir string) *dirWatch {
	d := &dirWatch{dir: dir, ch: make(chan struct{}, 1)}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return d
	}
	d.w = w
	go func() {
		// Both channels close when the watcher does.
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				select {
				case d.ch <- struct{}{}:
				default:
				}
			case _, ok := <-w.Errors:
				// An overflow or a read error: the poll still looks.
				if !ok {
					return
				}
			}
		}
	}()
	return d
}

// ensure watches the folder if it is not watched yet (it may appear late).
func (d *dirWatch) ensure() {
	if d.w != nil && !d.on {
		d.on = d.w.Add(d.dir) == nil
	}
}

// changed is readable once something in the folder changed since it was
// last read; nil (never readable) while the folder is not watched.
func (d *dirWatch) changed() <-chan struct{} {
	if !d.on {
		return nil
	}
	return d.ch
}

func (d *dirWatch) close() {
	if d.w != nil {
		_ = d.w.Close()
	}
}
