# gdb commands of scripts/under_gdb.sh: run; if the process did not exit (a fatal signal stopped
# it), print the crashed thread's stack, then every thread's, and deliver the signal: Python's
# faulthandler then prints the Python threads' stacks, and the process ends as it would have.
set pagination off
set confirm off
set print thread-events off
set print inferior-events off
handle all nostop noprint pass
handle SIGSEGV SIGBUS SIGFPE SIGILL SIGABRT stop print nopass
run
if $_isvoid($_exitcode)
  echo \n== gdb: the crashed thread\n
  bt 40
  echo \n== gdb: every thread\n
  info threads
  thread apply all bt 25
  echo == gdb: end\n
  handle all nostop noprint pass
  signal $_siginfo.si_signo
end
