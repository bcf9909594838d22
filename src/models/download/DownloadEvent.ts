/** Progress of one download, for progress bars, NDJSON lines, /health and Ollama's /api/pull. */
export type DownloadEvent =
    | {
          type: "start";
          uri: string;
          location: string;
          /** Target path. */
          path: string;
          total?: number;
          /** Bytes already on disk from an earlier, interrupted attempt. */
          resumedFrom: number;
          expectedSha256?: string;
      }
    | { type: "progress"; completed: number; total?: number; bytesPerSecond: number }
    | { type: "retry"; attempt: number; maxAttempts: number; delayMs: number; error: string; completed: number }
    | { type: "restart"; reason: string }
    | { type: "verifying"; path: string }
    | { type: "done"; path: string; sha256: string; size: number; status: DownloadStatus };

/** "downloaded": new bytes were written; "present": the target already held the same bytes. */
export type DownloadStatus = "downloaded" | "present";

export type DownloadListener = (event: DownloadEvent) => void;
