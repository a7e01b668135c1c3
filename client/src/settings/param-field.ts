/** The settings form's model: one indicator's parameters, colours and visibility. */
export interface ParamField {
  key: string;
  label: string;
  value: number | string | boolean;
  min?: number;
  max?: number;
  step?: number;
  integer?: boolean;
  options?: string[];
}

export interface SettingsModel {
  title: string;
  params: ParamField[];
  colors: Array<{ key: string; value: string }>;
  hidden: boolean;
}

export interface SettingsChange {
  params: Record<string, number | string | boolean>;
  colors: string[];
  hidden: boolean;
}

/** A number within the field's declared range (and whole when it must be), or undefined to refuse it. */
export function checkNumber(f: ParamField, raw: string): number | undefined {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) return undefined;
  if (f.integer && !Number.isInteger(n)) return undefined;
  if (f.min !== undefined && n < f.min) return undefined;
  if (f.max !== undefined && n > f.max) return undefined;
  return n;
}

