# Stageline's buildspec driver: one bash process per part (build.yml or release.yml).
#
# Reads commands from stdin, each ended by a NUL byte, and runs each in a
# subshell of this shell (with stdin from /dev/null) so that `exit`, `exec` or
# `set -e` inside a command end that command only. When the subshell ends, it
# saves its variables, functions, shell options and directory into the state
# file; this shell restores them, so state carries from command to command as
# in one shell session (CodeBuild buildspec version 0.2). After each command it
# prints "<token> <exit code>" on the merged output stream, which the runner
# reads as the command's end.
#
# $1: the state file (created private by the runner; "$1.names" is used
# too), $2: the marker token.
__sl_state=$1
__sl_token=$2
set --
exec 2>&1

# Bash's own dynamic or read-only variables: never saved or restored (nor
# are the driver's `__sl_*` ones, nor `BASH_*` and `COMP_*`).
declare -A __sl_special=(
  [BASH]=1 [BASHOPTS]=1 [BASHPID]=1 [DIRSTACK]=1 [EPOCHREALTIME]=1 [EPOCHSECONDS]=1
  [EUID]=1 [FUNCNAME]=1 [GROUPS]=1 [HISTCMD]=1 [LINENO]=1 [OPTARG]=1 [OPTIND]=1
  [PIPESTATUS]=1 [PPID]=1 [PWD]=1 [OLDPWD]=1 [RANDOM]=1 [SECONDS]=1 [SHELLOPTS]=1
  [SHLVL]=1 [SRANDOM]=1 [UID]=1 [_]=1
)
# Variable name -> its declaration as this shell last restored it. Only
# variables whose declaration changed are written back: restoring all of
# them after every command would cost milliseconds.
declare -A __sl_last=()

# Runs in the command's subshell when it ends (EXIT trap), whatever ended it:
# writes into the state file a function `__sl_apply` that gives this shell
# the subshell's variables and directory, the subshell's functions, and its
# options as `__sl_options` (applied in the next command's subshell only).
__sl_save() {
  { builtin set +x; } 2>/dev/null
  builtin set +eu
  # Gone means the part has ended: never recreate it (it would not be private).
  [[ -e $__sl_state ]] || return
  local __sl_n __sl_ref __sl_decl
  local -a __sl_all __sl_lines=()
  local -A __sl_now=()
  # Names without forking a subshell: `compgen` into a file and back (not the
  # state file, which this shell sources even if the subshell is killed here).
  builtin compgen -v >"$__sl_state.names"
  builtin mapfile -t __sl_all <"$__sl_state.names"
  for __sl_n in "${__sl_all[@]}"; do
    [[ ${__sl_special[$__sl_n]} ]] && continue
    if [[ ! ${__sl_last[$__sl_n]+known} ]]; then
      if [[ $__sl_n == BASH_* || $__sl_n == COMP_* || $__sl_n == __sl_* ]]; then
        __sl_lines+=("__sl_special[$__sl_n]=1")
        continue
      fi
    fi
    case ${!__sl_n@a} in *r* | *n*) continue ;; esac
    __sl_ref="$__sl_n[@]"
    __sl_decl=${!__sl_ref@A}
    [[ -z $__sl_decl ]] && continue
    __sl_now[$__sl_n]=1
    [[ $__sl_decl == "${__sl_last[$__sl_n]}" ]] && continue
    builtin printf -v __sl_ref '__sl_last[%s]=%q' "$__sl_n" "$__sl_decl"
    # Inside a function, `declare` would make a local: -g keeps it global.
    [[ $__sl_decl == "declare -"* ]] && __sl_decl="declare -g${__sl_decl#declare -}"
    __sl_lines+=("$__sl_decl" "$__sl_ref")
  done
  for __sl_n in "${!__sl_last[@]}"; do
    [[ ${__sl_now[$__sl_n]} ]] || __sl_lines+=("builtin unset -v $__sl_n '__sl_last[$__sl_n]'")
  done
  {
    builtin unset -f __sl_apply __sl_options
    builtin declare -f
    builtin echo '__sl_options() {'
    builtin set +o
    builtin shopt -p
    builtin echo '}'
    builtin echo '__sl_apply() {'
    builtin printf '%s\n' "${__sl_lines[@]}"
    builtin printf 'builtin cd -- %q\n' "$PWD"
    builtin echo '}'
  } >"$__sl_state"
}

__sl_options() { :; }
# What the shell starts with is the first state to compare against.
(__sl_save)
builtin source "$__sl_state"
__sl_apply
# Ready: the runner waits for this first marker (a sandbox that cannot
# start never prints it).
builtin printf '%s %d\n' "$__sl_token" 0

while IFS= builtin read -r -d '' __sl_cmd; do
  # This shell's own report of a subshell killed by a signal ("line 101:
  # 1234 Killed ( builtin trap ...") would show driver internals: it goes to
  # /dev/null, while the subshell writes its stderr to the output (fd 3).
  {
    (
      exec 2>&3 3>&-
      builtin trap __sl_save EXIT
      __sl_options >/dev/null 2>&1
      builtin eval "$__sl_cmd"
    ) </dev/null
  } 3>&2 2>/dev/null
  __sl_rc=$?
  builtin unset -f __sl_apply
  builtin source "$__sl_state"
  builtin declare -F __sl_apply >/dev/null && __sl_apply
  builtin printf '%s %d\n' "$__sl_token" "$__sl_rc"
done
