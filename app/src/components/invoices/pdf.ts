import PDFDocument from 'pdfkit';

import type { Order } from '../catalog/orders/service.js';

/** What an invoice shows besides the order itself. */
export interface InvoiceParty {
  readonly customerEmail: string;
}

function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const whole = Math.abs(cents);
  return `${sign}${Math.floor(whole / 100).toLocaleString('en-US')}.${String(whole % 100).padStart(2, '0')}`;
}

/**
 * Renders the invoice of `order` as a PDF with pdfkit's built-in Helvetica (no font files of ours). The document's
 * dates come from the order, so the same order renders the same bytes.
 */
export function renderInvoicePdf(order: Order, party: InvoiceParty): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    compress: true,
    info: {
      Title: `Invoice for order ${order.id}`,
      Author: 'erp-api',
      CreationDate: order.createdAt,
      ModDate: order.createdAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  doc.font('Helvetica-Bold').fontSize(20).text('Invoice');
  doc.moveDown(0.5).font('Helvetica').fontSize(10);
  doc.text(`Order: ${order.id}`);
  doc.text(`Date: ${order.createdAt.toISOString().slice(0, 10)}`);
  doc.text(`Customer: ${party.customerEmail}`);
  doc.text(`Status: ${order.status}`);
  doc.moveDown();

  const columns = { sku: 50, name: 150, quantity: 360, unit: 420, total: 490 } as const;
  const row = (cells: Record<keyof typeof columns, string>, y: number): void => {
    for (const [column, x] of Object.entries(columns) as [keyof typeof columns, number][]) {
      doc.text(cells[column], x, y, { width: column === 'name' ? 200 : 65, lineBreak: false, ellipsis: true });
    }
  };
  doc.font('Helvetica-Bold');
  row({ sku: 'SKU', name: 'Product', quantity: 'Qty', unit: 'Unit', total: 'Amount' }, doc.y);
  doc.font('Helvetica');
  let y = doc.y + 6;
  for (const item of order.items) {
    if (y > 760) {
      doc.addPage();
      y = 50;
    }
    row(
      {
        sku: item.sku,
        name: item.name,
        quantity: String(item.quantity),
        unit: money(item.unitPriceCents),
        total: money(item.unitPriceCents * item.quantity),
      },
      y,
    );
    y += 16;
  }
  doc.font('Helvetica-Bold').text(`Total: ${money(order.totalCents)}`, 50, y + 10);
  doc.end();
  return done;
}
