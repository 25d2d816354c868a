package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/banesco-verifier/verifier/client"
)

// A client app records a payment and waits for the bank's answer.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.New("http://localhost:8080", client.WithCredentials("ana@example.com", "correct-horse-battery"))
	if err != nil {
		log.Fatal(err)
	}
	created, err := c.CreateTransaction(ctx, client.CreateTransaction{
		TransactionID: "ORD-1001", Bank: client.BankMobileTransfer, Reference: "000123456789", Amount: "1240.00",
		PayerBankCode: "0102", Customer: client.Customer{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.WaitFinal(ctx, created.TransactionID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status) // COMPLETED, TO_REVIEW, UNKNOWN or CANCELED
}

// Errors are *APIError values with the API's stable code and the fields at fault.
func ExampleAPIError() {
	c, _ := client.New("http://localhost:8080", client.WithCredentials("ana@example.com", "correct-horse-battery"))
	_, err := c.CreateTransaction(context.Background(), client.CreateTransaction{TransactionID: "ORD-1001"})
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == client.CodeValidationFailed:
		for field, problem := range apiErr.Fields {
			fmt.Printf("%s: %s\n", field, problem)
		}
	case client.HasCode(err, client.CodeDuplicateReference):
		fmt.Println("this payment was already recorded under another id")
	case err != nil:
		fmt.Println("failed:", err) // includes the request id to report
	}
}

// WaitFinal with a deadline: the last status seen comes back with the error.
func ExampleClient_WaitFinal() {
	c, _ := client.New("http://localhost:8080", client.WithCredentials("ana@example.com", "correct-horse-battery"),
		client.WithPolling(time.Second, 30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.WaitFinal(ctx, "ORD-1001")
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Println("still", st.Status, "after", st.Attempts, "bank checks; try later")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status)
}

// Listing the completed transactions of today, 50 per page.
func ExampleClient_ListTransactions() {
	c, _ := client.New("http://localhost:8080", client.WithCredentials("ana@example.com", "correct-horse-battery"))
	day := time.Now().Format(time.DateOnly)
	for page := 1; ; page++ {
		p, err := c.ListTransactions(context.Background(), client.ListOptions{
			Status: client.StatusCompleted, FromDate: day, ToDate: day, Page: page, Size: 50})
		if err != nil {
			log.Fatal(err)
		}
		for _, tx := range p.Items {
			fmt.Println(tx.TransactionID, tx.Amount)
		}
		if page >= p.Pages {
			break
		}
	}
}
