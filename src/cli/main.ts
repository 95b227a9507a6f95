// `ternion` command-line entry: dispatches to one module per command.
console.error("ternion: no commands yet");
process.exit(1);
