/**
 * Whether the phone's ☰ menu stays open once a panel (the drawing tools, an indicator's settings) is
 * open: it closes, or it covered the tools it had just opened (a review). A panel closing leaves it be.
 */
export function menuAfterPanel(menuOpen: boolean, panelOpen: boolean, panelWasOpen: boolean): boolean {
  return panelOpen && !panelWasOpen ? false : menuOpen;
}
