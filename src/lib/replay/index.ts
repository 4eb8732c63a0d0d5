// Replay of raw recordings: readers for the recording formats and a local fake exchange that serves them

export * from './recording.js'
export * from './faults.js'
export { inferVenue, mulDecimal, startReplayServer, type ReplayOptions, type ReplayPace, type ReplayServer, type ReplayStats, type ReplayVenue } from './server.js'
