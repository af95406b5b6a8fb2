# Captures a real terminal session for the player tests: runs bash under an 80x24 pty, types the
# keys of STEPS.json ([[seconds to wait after, "keys"], ...]) and writes the timed stream as
# "kind at_us base64" lines (o = output, i = input).
#   python3 capture.py vim.json vim.events
import base64, os, pty, select, sys, time, fcntl, termios, struct, json
steps = json.load(open(sys.argv[1]))
out = open(sys.argv[2], "w")
env = {"TERM": "xterm-256color", "HOME": "/tmp/cap/home", "PS1": "$ ", "HISTFILE": "/dev/null",
       "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
os.makedirs(env["HOME"], exist_ok=True)
pid, fd = pty.fork()
if pid == 0:
    os.chdir(env["HOME"])
    os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
start = time.monotonic()
def now(): return int((time.monotonic() - start) * 1e6)
def pump(seconds):
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0: return True
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try: data = os.read(fd, 65536)
            except OSError: return False
            if not data: return False
            out.write("o %d %s\n" % (now(), base64.b64encode(data).decode()))
pump(0.5)
for delay, keys in steps:
    keys = keys.encode()
    out.write("i %d %s\n" % (now(), base64.b64encode(keys).decode()))
    os.write(fd, keys)
    if not pump(delay): break
pump(0.5)
