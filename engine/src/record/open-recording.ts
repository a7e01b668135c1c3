import { type FileHandle, open } from 'node:fs/promises';
import { checkRecordingFile } from './check-recording-file.ts';
import { fileChunks } from './file-chunks.ts';
import { metaProblem } from './meta-problem.ts';
import { RecordedAnswers } from './recorded-answers.ts';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';
import { scanRecording } from './scan-recording.ts';

export interface OpenRecording {
  /** Still open, for the frames' read as they play; the caller closes it. */
  fh: FileHandle;
  meta: Extract<RecordLine, { k: 'meta' }>;
  answers: RecordedAnswers;
  /** Frames counted (not kept). */
  frames: number;
  /** Complete lines read, records and malformed: the frames' read stops there. */
  lines: number;
  /** Malformed lines, REST questions no engine could have asked among them. */
  malformed: number;
  /** Set when the gzip stream stops early (a recorder killed mid-write): why. */
  endedEarly?: string;
}

/**
 * A replay's first pass over its recording: reads it through, keeping the meta line and the REST
 * answers (every one must be answerable from the start) and only counting the frames, which are read
 * again as they play, from the same descriptor (so from the file read here, even if it is renamed or
 * replaced meanwhile). Throws RecordingFileError when the file cannot be replayed: missing, not a
 * regular file, empty, not gzip, no meta line or one that names no valid series.
 */
export async function openRecording(path: string): Promise<OpenRecording> {
  await checkRecordingFile(path, { rereadable: true });
  const fh = await open(path).catch((e: unknown) => {
    throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
  });
  try {
    let meta: OpenRecording['meta'] | undefined;
    let frames = 0;
    let badQuestions = 0;
    const answers = new RecordedAnswers();
    const scan = await scanRecording(path, fileChunks(fh), (l) => {
      if (l.k === 'ws') frames++;
      else if (l.k === 'rest') badQuestions += answers.add(l) ? 0 : 1;
      else meta ??= l;
    });
    if (!meta) throw new RecordingFileError(path, 'it has no meta line');
    const problem = metaProblem(meta);
    if (problem) throw new RecordingFileError(path, problem);
    return { fh, meta, answers, frames, lines: scan.lines, malformed: scan.malformed + badQuestions, endedEarly: scan.endedEarly };
  } catch (e) {
    await fh.close();
    throw e;
  }
}
